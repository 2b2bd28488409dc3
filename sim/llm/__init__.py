"""mesaverse."""
