"""Everything that runs lapsewatch on one machine, without AWS or the internet."""
