"""Running trials: in process, or as an external command (``execution.command``)."""
