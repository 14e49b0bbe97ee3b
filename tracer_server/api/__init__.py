"""Routers by audience: officials, devices' verification, the key server's publish and exports."""
