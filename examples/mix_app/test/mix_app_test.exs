defmodule MixAppTest do
  use ExUnit.Case

  import ExUnit.CaptureLog

  doctest MixApp
  doctest MixApp.Cache

  test "the cache table belongs to a process of the application's supervisor" do
    [{{Shards, :mix_app_cache}, owner, :worker, _}] = Supervisor.which_children(MixApp.Supervisor)
    assert Shards.info(MixApp.Cache.table(), :owner) == owner
    assert Shards.info(MixApp.Cache.table(), :partitions) == 4
  end

  test "values outlive the process that stored them" do
    task = Task.async(fn -> MixApp.Cache.put(:from_task, self()) end)
    :ok = Task.await(task)
    assert MixApp.Cache.get(:from_task) == task.pid
    refute Process.alive?(task.pid)
  end

  test "fetch/2 computes once and counts hits and misses" do
    before = MixApp.Cache.stats()
    assert MixApp.Cache.fetch(:computed, fn -> :expensive end) == :expensive
    assert MixApp.Cache.fetch(:computed, fn -> flunk("computed twice") end) == :expensive
    stats = MixApp.Cache.stats()
    assert stats.misses == before.misses + 1
    assert stats.hits == before.hits + 1
  end

  test "after the owner crashes, the supervisor gives the app an empty cache" do
    MixApp.Cache.put(:before_crash, 1)
    [{_, owner, _, _}] = Supervisor.which_children(MixApp.Supervisor)

    capture_log(fn ->
      Process.exit(owner, :kill)
      wait_for_new_owner(owner)
    end)

    assert MixApp.Cache.get(:before_crash) == nil
    assert MixApp.run() == "hello from shards"
  end

  defp wait_for_new_owner(old, tries \\ 400) do
    case Supervisor.which_children(MixApp.Supervisor) do
      [{_, new, _, _}] when is_pid(new) and new != old ->
        if Shards.info(MixApp.Cache.table(), :owner) == new, do: :ok, else: retry(old, tries)

      _ ->
        retry(old, tries)
    end
  end

  defp retry(_old, 0), do: flunk("the supervisor did not restart the cache owner")

  defp retry(old, tries) do
    Process.sleep(5)
    wait_for_new_owner(old, tries - 1)
  end
end
