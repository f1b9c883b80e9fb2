"""The requests service's rules, free of any framework: states, forms, documents, effects."""
