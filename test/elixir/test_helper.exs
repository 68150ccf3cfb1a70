# Elixir's Logger is not among shards' applications; the tests start it so
# that capture_log/1 can keep the reports of owners killed on purpose quiet.
{:ok, _} = Application.ensure_all_started(:logger)
ExUnit.start()
