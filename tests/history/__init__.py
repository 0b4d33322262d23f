"""One history, one set of facts, whichever path it takes (issue 14, point 7).

- scenario.py: the history, in no source's shape, generated from a seed (`CASES`: one per
  merge style, and a full one with direct pushes, multi-region rollouts, a rollback, a hotfix,
  incidents and infra automation runs).
- events.py, github.py, gitlab.py, git.py, terraform.py, argocd.py: renderers, history -> what
  a source sends (CONTRACT §1 events; GitHub and GitLab REST objects and webhook deliveries; a
  real git repository built with git fast-import; HCP Terraform run notifications and the API
  answers the version fill reads; Argo CD's notification bodies).
- paths.py: the paths (render, then feed through a public entry point), `history_outcome` (the
  facts of tests/facts.py and the `manage.py metrics` JSON, on a fresh state) and
  `outcome_differences`. tests/integration/test_one_history.py compares every path with the
  events path.

Adding a source (GitLab, local git, PagerDuty, ...):
1. Write a renderer module beside these, `tests/history/<source>.py`: History -> the source's
   objects (a fake server's contents, webhook deliveries, a git repository on disk). Use the
   history's shas, times and numbers as they are, and give records the ids the source's mapper
   produces; where the events path's ids differ from what your adapter emits, the comparison
   says so (facts name deployments and incidents by source and id). A source that makes its
   own shas (a git repository: they hash the content) maps them: build it first, render the
   rest against its shas (git.history_with_shas) and return {its sha: the history's} from
   `feed`; history_outcome reads the outcome back in the history's shas (outcome_with_shas).
2. Write a path class in paths.py (or your module): `name` and `feed(history, workdir)`, which
   feeds the rendering through a public entry point (a management command, an HTTP endpoint).
   A source that has only part of a history (PagerDuty: incidents) feeds the rest through
   `events_import(history_events(...) minus its part)`, as the GitHub paths do with the
   automation runs.
3. Add it to `PATHS`; the parametrized tests pick it up (`cases`: only those cases, for a source
   that carries a part only some cases have; `feeds_automation`: it sends the automation runs;
   `outcome_read`: what it records differently, read back fact by fact, named in its
   docstring). If the history lacks something your source carries, add it to scenario.py and
   to every renderer (the events renderer first).
"""
