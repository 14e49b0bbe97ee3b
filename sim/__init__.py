"""Population-level simulation of BLE contact tracing with the real protocol."""
