"""``chat-text-conformance load``: conformance under load, on Locust (used as a library).

Many simulated users send a seeded, realistic mix of requests (streamed and not, short and long
prompts, multi-turn conversations, a share of invalid ones) and every answer is judged by the
same per-exchange rules as the suite and the proxy (:func:`~chat_text_conformance.checks.judge`,
streams event by event with :class:`~chat_text_conformance.checks.watch.StreamJudge`), in a judge
process beside each load process so that judging never takes its CPU from the load, while the
figures LLM teams track are measured: requests/s, time to first token, inter-token latency,
output tokens/s, error and rate-limited shares, goodput.

The modules, in the order a run uses them:

* :mod:`.options`: the command line and the run's settings (:class:`~.options.LoadSettings`);
* :mod:`.slo`: ``--slo`` objectives, each request's goodput test and the run's verdict on them;
* :mod:`.traffic`: the seeded traffic mix (what each simulated user sends next);
* :mod:`.figures`: mergeable latency histograms and counters, per run and per time bucket;
* :mod:`.book`: one process's verdicts (rule results, violations with their reproducers);
* :mod:`.judge`: the judge process (the rules applied to every answer a load process read);
* :mod:`.judging`: a load process's end of its judge (hands it the answers, reads its reports);
* :mod:`.user`, :mod:`.engine`: the Locust side (imports ``locust``, which monkey-patches the
  standard library with gevent: only ever in the load engine's own process);
* :mod:`.report`, :mod:`.charts`: ``report.json`` (its ``load`` section), JUnit, ``report.html``;
* :mod:`.cli`: the command, which validates its flags and starts the engine in a child process
  (so the caller's process, a test's included, never imports Locust).
"""
