"""Fairness and accuracy evaluation of 1:1 face verification, per demographic group."""
