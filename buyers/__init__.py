"""What a buyer controls: campaigns, filters, caps, schedules, pricing, response rules."""
