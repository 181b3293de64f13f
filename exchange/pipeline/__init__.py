"""The pipeline a lead goes through, top to bottom: normalize, validate, dedupe, grade, price."""
