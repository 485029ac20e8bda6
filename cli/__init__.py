"""The thinbase operator CLI (Typer). Entry point: `thinbase.cli.main:app`."""
