"""Console scripts: flags, then one call into musiczoo.commands."""
