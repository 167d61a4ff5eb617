"""Request → route → ordered plan of pool members."""
