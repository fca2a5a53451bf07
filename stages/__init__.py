"""Pipeline stages: one thin script per DVC stage, plus the helpers they share."""
