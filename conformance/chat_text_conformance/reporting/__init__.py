"""What a run leaves: results (the verdicts), report.json and JUnit (files),
report.html (html), curl reproducers and spec coverage."""
