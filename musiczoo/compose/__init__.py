"""From what a musician says to ranked variations: the prompt compiler, forms, variations,
ranking against the bundle's training music, and "more like this"."""
