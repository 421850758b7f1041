"""Tables, JSON and plots for people and machines."""
