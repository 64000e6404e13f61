"""Ports of the comms service (SMS, push) and the fake provider servers behind them."""
