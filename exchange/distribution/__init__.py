"""Distribution: which campaigns may buy a lead, in what order, and the sale itself."""
