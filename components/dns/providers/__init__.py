"""One adapter per DNS provider: the resolved records (components/dns/records.py) in the
shape the provider's resources take, with the provider's quirks kept here (DNSControl's
`providers/<name>/`)."""
