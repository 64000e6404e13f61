"""The platform layer the services share: settings, app factory, ports, fakes."""
