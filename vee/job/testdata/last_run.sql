SELECT max(watermark), max(computed_at), count()
FROM vee_runs
