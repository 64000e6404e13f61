"""The authoring service's HTTP routers."""
