"""Money: the double-entry ledger, balances, returns, settlements, exports."""
