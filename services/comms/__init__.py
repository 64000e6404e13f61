"""The communication service (seed 003): reminders and alerts per tenant, category and
channel, sent through SMS, push and email providers with failover and delivery tracking."""
