"""Vector backends: `base` (the Protocols), `factory` (picks one by URI), one module each."""
