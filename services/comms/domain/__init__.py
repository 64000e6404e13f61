"""The comms service's pure rules: templates, dispatch states, push payload privacy."""
