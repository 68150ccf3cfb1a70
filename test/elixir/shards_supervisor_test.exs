defmodule ShardsSupervisorTest do
  use ExUnit.Case, async: true

  import ExUnit.CaptureLog

  defp uniq(prefix), do: :"#{prefix}_#{System.unique_integer([:positive])}"

  defp owner_of(sup, name) do
    [pid] = for {{Shards, ^name}, pid, :worker, _} <- Supervisor.which_children(sup), do: pid
    pid
  end

  # A one_for_one supervisor of children, stopped when the test ends.
  defp sup_spec(children) do
    %{
      id: :sup,
      start: {Supervisor, :start_link, [children, [strategy: :one_for_one]]},
      type: :supervisor
    }
  end

  defp start_sup!(children), do: start_supervised!(sup_spec(children))

  # Polls until fun returns a truthy value, and returns it.
  defp eventually(fun, tries \\ 400) do
    case fun.() do
      result when result in [nil, false] and tries > 0 ->
        Process.sleep(5)
        eventually(fun, tries - 1)

      result ->
        assert result
        result
    end
  end

  test "{Shards, opts} starts a named table owned by a supervised process" do
    name = uniq(:sup_cache)
    sup = start_sup!([{Shards, name: name, partitions: 4}])
    owner = owner_of(sup, name)

    assert Shards.whereis(name) |> is_reference()
    assert Shards.info(name, :owner) == owner
    assert Shards.info(name, :partitions) == 4
    assert Shards.info(name, :protection) == :public
    assert Shards.put(name, :a, 1) == :ok
    assert Shards.get(name, :a) == 1
  end

  test "the table survives the processes that use it" do
    name = uniq(:sup_survivor)
    start_sup!([{Shards, name: name}])

    {pid, ref} =
      spawn_monitor(fn ->
        Shards.put(name, :written_by, self())
        exit(:crash)
      end)

    assert_receive {:DOWN, ^ref, :process, ^pid, :crash}
    assert Shards.get(name, :written_by) == pid
  end

  test "a crashed owner is restarted with a new, empty table" do
    name = uniq(:sup_restart)
    sup = start_sup!([{Shards, name: name, partitions: 3}])

    capture_log(fn ->
      for _ <- 1..3 do
        owner = owner_of(sup, name)
        old = Shards.whereis(name)
        Shards.put(name, :a, 1)
        Process.exit(owner, :kill)

        new_owner =
          eventually(fn -> Shards.whereis(name) != old and Shards.info(name, :owner) end)

        assert new_owner != owner
        assert owner_of(sup, name) == new_owner
        assert Shards.size(name) == 0
        assert Shards.info(name, :partitions) == 3
        assert Shards.info(name, :protection) == :public
      end
    end)
  end

  test "stopping the supervisor deletes the table" do
    name = uniq(:sup_stop)
    {:ok, sup} = Supervisor.start_link([{Shards, name: name}], strategy: :one_for_one)
    assert Shards.whereis(name)
    :ok = Supervisor.stop(sup)
    assert Shards.whereis(name) == :undefined
  end

  test "terminate_child deletes the table and restart_child makes it again" do
    name = uniq(:sup_terminate)
    sup = start_sup!([{Shards, name: name}])
    Shards.put(name, :a, 1)
    :ok = Supervisor.terminate_child(sup, {Shards, name})
    assert Shards.whereis(name) == :undefined
    {:ok, _} = Supervisor.restart_child(sup, {Shards, name})
    assert Shards.get(name, :a) == nil
  end

  test "several tables under one supervisor, ids overridable" do
    a = uniq(:sup_a)
    b = uniq(:sup_b)

    children = [
      {Shards, name: a, type: :set},
      Supervisor.child_spec({Shards, name: b, access: :protected}, id: :table_b)
    ]

    sup = start_sup!(children)
    ids = sup |> Supervisor.which_children() |> Enum.map(&elem(&1, 0)) |> Enum.sort()
    assert ids == Enum.sort([{Shards, a}, :table_b])
    assert Shards.info(a, :protection) == :public
    assert Shards.info(b, :protection) == :protected

    # a protected table: only its owner writes
    assert_raise ArgumentError, ~r/is protected: only its owner/, fn -> Shards.put(b, :k, 1) end
    assert Shards.get(b, :k) == nil
  end

  test "a name taken by a live table fails the child's start" do
    name = uniq(:sup_taken)
    Shards.new(name, named_table: true)

    capture_log(fn ->
      assert {:error, {{:shutdown, failure}, _}} =
               start_supervised(sup_spec([{Shards, name: name}]))

      assert failure == {:failed_to_start_child, {Shards, name}, {:already_exists, name}}
    end)

    assert Shards.info(name, :owner) == self()
  end

  test "bad options are refused when the child spec is built" do
    assert_raise ArgumentError, ~r/needs a :name option/, fn ->
      Shards.child_spec(partitions: 2)
    end

    assert_raise ArgumentError, ~r/cannot have a :heir/, fn ->
      Shards.child_spec(name: :sup_heir, heir: self())
    end

    assert_raise ArgumentError, ~r/invalid value for the :partitions option/, fn ->
      Shards.child_spec(name: :sup_bad, partitions: 0)
    end
  end

  test "start_link/1 without a supervisor" do
    name = uniq(:sup_direct)
    {:ok, owner} = Shards.start_link(name: name, type: :set)
    assert Shards.info(name, :owner) == owner
    assert :shards_owner.table(owner) == name
    :ok = GenServer.stop(owner)
    assert Shards.whereis(name) == :undefined
  end
end
