"""Human and user feedback: the record format every producer writes and the loop reads."""
