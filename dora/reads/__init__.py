"""The read side: selectors (the only place metrics read the database), the metrics report, the
dashboard pages' figures, the leadership report, the estate matrix, the promotion gate's reads and
the charts; pages, the API and the gate read facts through these, never walk history."""
