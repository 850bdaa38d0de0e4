"""Console pages of accounts: sign-in and one's own account (auth), and RAM administration (ram)."""
