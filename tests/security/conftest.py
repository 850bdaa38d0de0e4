"""Attack tests: each proves one thing an attacker (another tenant, a constrained sub-account, an anonymous
caller) cannot do. They run in the README's test command as their own layer."""
