"""Event intake: the normalized event schema, idempotent record upserts and the facts derived at
intake (rollouts, change sets, arrivals, failure links); `dora.intake.derive` is its entry."""
