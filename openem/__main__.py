from openem.cli import app

app(prog_name="openem")
