"""`auditstream review`: auditors' outcomes back into the stream (issue 16 item 2).

`records` turns rows (a CSV file, an Excel sheet, a form) into `shared.reviews.Review`s or
line-numbered rejects (pure); `files` reads CSV / .xlsx and the exports' known ids;
`publish` sends reviews to the compacted topic; `server` is the local review page;
`simulate` is the demo's reviewer; `cli` wires the commands.
"""
