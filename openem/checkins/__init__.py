"""Check-ins: prompt schedules, prompts, device submissions, decisions and enrolment."""
