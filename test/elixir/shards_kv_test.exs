defmodule ShardsKVTest do
  use ExUnit.Case, async: true

  alias Shards.Checks

  defp uniq(prefix), do: :"#{prefix}_#{System.unique_integer([:positive])}"

  # Runs fun in another process and returns its result, or {:raised, error}.
  defp elsewhere(fun) do
    fn ->
      try do
        fun.()
      rescue
        error -> {:raised, error}
      end
    end
    |> Task.async()
    |> Task.await()
  end

  describe "against a Map as the model" do
    # Keys include 1 and 1.0, which a set table (like a map) keeps apart.
    @keys [:a, :b, :c, 1, 1.0, "k", {:t, 1}]

    for partitions <- [1, 2, 7] do
      test "random operation sequences, #{partitions} partitions" do
        seed = :rand.uniform(1_000_000)
        :rand.seed(:exsss, {seed, unquote(partitions), 7})
        tab = Shards.new(:kv_model, partitions: unquote(partitions))

        Enum.reduce(1..3_000, %{}, fn step, model ->
          op = random_op()
          {expected, model} = model_step(op, model)
          actual = shards_step(op, tab)
          assert actual == expected, "seed #{seed}, step #{step}: #{inspect(op)}"
          check_whole(tab, model, seed, step)
          model
        end)
      end
    end

    defp random_op do
      key = Enum.random(@keys)

      case :rand.uniform(13) do
        1 -> {:put, key, random_value()}
        2 -> {:put_new, key, random_value()}
        3 -> {:get, key}
        4 -> {:fetch, key}
        5 -> {:fetch!, key}
        6 -> {:update, key, random_value()}
        7 -> {:update!, key}
        8 -> {:get_and_update, key, Enum.random([:replace, :pop])}
        9 -> {:increment, key, Enum.random([-3, 1, 5])}
        10 -> {:pop, key}
        11 -> {:delete, key}
        12 -> {:take, key}
        13 -> {:put, key, :rand.uniform(10)}
      end
    end

    defp random_value, do: Enum.random([0, 7, -1, :x, "str", {:tuple, 1}, [1, 2], nil, 2.5])

    defp wrap(value), do: {:wrapped, value}

    defp model_step({:put, k, v}, m), do: {:ok, Map.put(m, k, v)}
    defp model_step({:put_new, k, v}, m), do: {not Map.has_key?(m, k), Map.put_new(m, k, v)}
    defp model_step({:get, k}, m), do: {Map.get(m, k, :default), m}
    defp model_step({:fetch, k}, m), do: {Map.fetch(m, k), m}

    defp model_step({:fetch!, k}, m) do
      case Map.fetch(m, k) do
        {:ok, v} -> {{:ok, v}, m}
        :error -> {KeyError, m}
      end
    end

    defp model_step({:update, k, d}, m) do
      m = Map.update(m, k, d, &wrap/1)
      {Map.fetch!(m, k), m}
    end

    defp model_step({:update!, k}, m) do
      case Map.fetch(m, k) do
        {:ok, v} -> {{:ok, wrap(v)}, Map.put(m, k, wrap(v))}
        :error -> {KeyError, m}
      end
    end

    defp model_step({:get_and_update, k, mode}, m) do
      Map.get_and_update(m, k, gau_fun(mode))
    end

    defp model_step({:increment, k, by}, m) do
      case Map.get(m, k, 0) do
        v when is_integer(v) -> {v + by, Map.put(m, k, v + by)}
        _ -> {ArgumentError, m}
      end
    end

    defp model_step({:pop, k}, m), do: Map.pop(m, k, :default)
    defp model_step({:delete, k}, m), do: {true, Map.delete(m, k)}

    defp model_step({:take, k}, m) do
      case Map.fetch(m, k) do
        {:ok, v} -> {[{k, v}], Map.delete(m, k)}
        :error -> {[], m}
      end
    end

    defp gau_fun(:replace), do: fn v -> {{:got, v}, wrap(v)} end
    defp gau_fun(:pop), do: fn _ -> :pop end

    defp shards_step({:put, k, v}, t), do: Shards.put(t, k, v)
    defp shards_step({:put_new, k, v}, t), do: Shards.put_new(t, k, v)
    defp shards_step({:get, k}, t), do: Shards.get(t, k, :default)
    defp shards_step({:fetch, k}, t), do: Shards.fetch(t, k)
    defp shards_step({:fetch!, k}, t), do: raised(fn -> {:ok, Shards.fetch!(t, k)} end)
    defp shards_step({:update, k, d}, t), do: Shards.update(t, k, d, &wrap/1)
    defp shards_step({:update!, k}, t), do: raised(fn -> {:ok, Shards.update!(t, k, &wrap/1)} end)

    defp shards_step({:get_and_update, k, mode}, t),
      do: Shards.get_and_update(t, k, gau_fun(mode))

    defp shards_step({:increment, k, by}, t), do: raised(fn -> Shards.increment(t, k, by) end)
    defp shards_step({:pop, k}, t), do: Shards.pop(t, k, :default)
    defp shards_step({:delete, k}, t), do: Shards.delete(t, k)
    defp shards_step({:take, k}, t), do: Shards.take(t, k)

    # The exception module if fun raises KeyError or ArgumentError.
    defp raised(fun) do
      fun.()
    rescue
      error in [KeyError, ArgumentError] -> error.__struct__
    end

    defp check_whole(tab, model, seed, step) do
      context = "seed #{seed}, step #{step}"
      assert Shards.size(tab) == map_size(model), context
      assert Enum.sort(Shards.keys(tab)) == Enum.sort(Map.keys(model)), context
      assert Enum.sort(Shards.values(tab)) == Enum.sort(Map.values(model)), context
      assert Enum.sort(Shards.tab2list(tab)) == Enum.sort(Map.to_list(model)), context
    end
  end

  describe "bag and duplicate_bag tables" do
    test "the conveniences on real bag tables: lists of values, keys once" do
      for type <- [:bag, :duplicate_bag] do
        tab = Shards.new(:kv_bag, type: type, partitions: 3)
        Shards.put(tab, :k, 1)
        Shards.put(tab, :k, 2)
        Shards.put(tab, :k, 1)
        Shards.put(tab, :j, 3)
        expected = if type == :bag, do: [1, 2], else: [1, 2, 1]
        assert Shards.get(tab, :k) == expected
        assert Shards.fetch(tab, :k) == {:ok, expected}
        assert Shards.fetch(tab, :missing) == :error
        assert Enum.sort(Shards.keys(tab)) == [:j, :k]
        assert Enum.sort(Shards.values(tab)) == Enum.sort([3 | expected])
        assert_raise ArgumentError, fn -> Shards.increment(tab, :k, 1) end
        assert_raise ArgumentError, fn -> Shards.update(tab, :k, 0, &(&1 + 1)) end
        assert Shards.pop(tab, :k) == expected
        assert Shards.get(tab, :k) == Shards.get(tab, :missing)
        Shards.delete(tab)
      end
    end

    test "kind/1 tells one value per key from several" do
      assert Checks.kind(:set) == :single
      assert Checks.kind(:ordered_set) == :single
      assert Checks.kind(:bag) == :multi
      assert Checks.kind(:duplicate_bag) == :multi
    end

    test "single!/3 refuses the bag types with a message naming the function" do
      for type <- [:bag, :duplicate_bag] do
        error =
          assert_raise ArgumentError, fn -> Checks.single!(:cache, type, "Shards.update/4") end

        assert error.message ==
                 "Shards.update/4 needs a set or ordered_set table, table :cache is a " <>
                   "#{type} (a key may hold several values)"
      end

      assert Checks.single!(:cache, :set, "Shards.update/4") == :ok
      assert Checks.single!(:cache, :ordered_set, "Shards.update/4") == :ok
    end
  end

  describe "atomic conveniences under concurrency" do
    test "put_new/3: exactly one of the racing processes wins" do
      tab = Shards.new(:race_put_new, access: :public)

      for round <- 1..20 do
        results =
          1..8
          |> Enum.map(fn i -> Task.async(fn -> {i, Shards.put_new(tab, round, i)} end) end)
          |> Enum.map(&Task.await/1)

        assert [{winner, true}] = Enum.filter(results, &elem(&1, 1))
        assert Shards.get(tab, round) == winner
      end
    end

    test "increment/3 loses no update" do
      tab = Shards.new(:race_increment, access: :public)

      1..8
      |> Enum.map(fn _ ->
        Task.async(fn -> for _ <- 1..1_000, do: Shards.increment(tab, :n) end)
      end)
      |> Enum.each(&Task.await/1)

      assert Shards.get(tab, :n) == 8_000
    end

    test "pop/3: one process gets the value" do
      tab = Shards.new(:race_pop, access: :public)

      for round <- 1..20 do
        Shards.put(tab, :k, round)

        got =
          1..8
          |> Enum.map(fn _ -> Task.async(fn -> Shards.pop(tab, :k, :none) end) end)
          |> Enum.map(&Task.await/1)
          |> Enum.reject(&(&1 == :none))

        assert got == [round]
      end
    end
  end

  describe "errors of the conveniences" do
    setup do
      tab = Shards.new(:kv_errors, access: :public)
      Shards.put(tab, :n, 1)
      Shards.put(tab, :s, "string")
      %{tab: tab}
    end

    # Every convenience, called on `tab`.
    defp all_calls(tab) do
      [
        get: fn -> Shards.get(tab, :n) end,
        fetch: fn -> Shards.fetch(tab, :n) end,
        fetch!: fn -> Shards.fetch!(tab, :n) end,
        put: fn -> Shards.put(tab, :n, 2) end,
        put_new: fn -> Shards.put_new(tab, :m, 2) end,
        update: fn -> Shards.update(tab, :n, 0, & &1) end,
        update!: fn -> Shards.update!(tab, :n, & &1) end,
        get_and_update: fn -> Shards.get_and_update(tab, :n, &{&1, &1}) end,
        increment: fn -> Shards.increment(tab, :n) end,
        pop: fn -> Shards.pop(tab, :n) end,
        keys: fn -> Shards.keys(tab) end,
        values: fn -> Shards.values(tab) end,
        size: fn -> Shards.size(tab) end
      ]
    end

    defp assert_error(call, message, fun) do
      error = assert_raise ArgumentError, call
      assert error.message == message, "#{fun}"
    end

    defp writes, do: [:put, :put_new, :update, :update!, :get_and_update, :increment, :pop]

    test "a table that does not exist" do
      name = uniq(:no_such_table)

      for {fun, call} <- all_calls(name) do
        assert_error(call, "table #{inspect(name)} does not exist", fun)
      end

      tab = Shards.new(:deleted)
      Shards.delete(tab)

      for {_fun, call} <- all_calls(tab) do
        assert_raise ArgumentError, "table #{inspect(tab)} does not exist", call
      end
    end

    test "a term that cannot name a table" do
      for bad <- [42, "cache", {:cache}, self()], {fun, call} <- all_calls(bad) do
        message = "expected a table name (an atom) or a table reference, got: #{inspect(bad)}"
        assert_error(call, message, fun)
      end
    end

    test "writes to a protected table from another process" do
      tab = Shards.new(:kv_protected)
      Shards.put(tab, :n, 1)
      owner = inspect(self())

      for {fun, call} <- all_calls(tab) do
        result = elsewhere(call)

        if fun in writes() do
          assert {:raised, %ArgumentError{message: message}} = result

          assert message ==
                   "table #{inspect(tab)} is protected: only its owner #{owner} can write to it"
        else
          refute match?({:raised, _}, result), "#{fun}: #{inspect(result)}"
        end
      end

      assert Shards.get(tab, :n) == 1
    end

    test "any use of a private table from another process" do
      tab = Shards.new(:kv_private, access: :private)
      Shards.put(tab, :n, 1)

      for {fun, call} <- all_calls(tab), fun != :size do
        assert {:raised, %ArgumentError{message: message}} = elsewhere(call)

        assert message ==
                 "table #{inspect(tab)} is private: only its owner #{inspect(self())} can use it"
      end

      # as ets:info/2, size/1 works on a private table from any process
      assert elsewhere(fn -> Shards.size(tab) end) == 1

      assert Shards.get(tab, :n) == 1
    end

    test "a table whose key is not first" do
      tab = Shards.new(:kv_keypos, keypos: 2)
      Shards.insert(tab, {1, :n})

      message =
        "expected a table of {key, value} tuples with the key first (keypos 1), table #{inspect(tab)} has keypos 2"

      for {fun, call} <- all_calls(tab), fun != :size and fun != :keys do
        assert_error(call, message, fun)
      end

      # keys/1 and size/1 need no particular shape
      assert Shards.keys(tab) == [:n]
      assert Shards.size(tab) == 1
      assert Shards.tab2list(tab) == [{1, :n}]
    end

    test "objects that are not {key, value} tuples", %{tab: tab} do
      Shards.insert(tab, {:t, 1, 2})

      message =
        "expected a {key, value} tuple under key :t in table #{inspect(tab)}, got: {:t, 1, 2}"

      for call <- [
            fn -> Shards.get(tab, :t) end,
            fn -> Shards.fetch(tab, :t) end,
            fn -> Shards.fetch!(tab, :t) end,
            fn -> Shards.update(tab, :t, 0, & &1) end,
            fn -> Shards.update!(tab, :t, & &1) end,
            fn -> Shards.get_and_update(tab, :t, &{&1, &1}) end,
            fn -> Shards.values(tab) end
          ] do
        assert_raise ArgumentError, message, call
      end

      assert Enum.sort(Shards.keys(tab)) == [:n, :s, :t]
      assert Shards.lookup(tab, :t) == [{:t, 1, 2}]

      # pop/3 removes first, then reports what it removed
      assert_raise ArgumentError, message, fn -> Shards.pop(tab, :t) end
      assert Shards.lookup(tab, :t) == []
    end

    test "increment/3: not an integer", %{tab: tab} do
      assert_raise ArgumentError, "expected an integer increment, got: 1.5", fn ->
        Shards.increment(tab, :n, 1.5)
      end

      assert_raise ArgumentError,
                   "the value under key :s in table #{inspect(tab)} is not an integer: \"string\"",
                   fn -> Shards.increment(tab, :s) end

      assert Shards.get(tab, :s) == "string"
      assert Shards.get(tab, :n) == 1
    end

    test "functions that are not functions of arity 1", %{tab: tab} do
      message = "expected a function of arity 1, got: :not_a_fun"
      assert_raise ArgumentError, message, fn -> Shards.update(tab, :n, 0, :not_a_fun) end
      assert_raise ArgumentError, message, fn -> Shards.update!(tab, :n, :not_a_fun) end
      assert_raise ArgumentError, message, fn -> Shards.get_and_update(tab, :n, :not_a_fun) end
    end

    test "get_and_update/3 with a function returning something else", %{tab: tab} do
      assert_raise ArgumentError,
                   "the function given to Shards.get_and_update/3 must return {get, new_value} or :pop, got: 2",
                   fn -> Shards.get_and_update(tab, :n, &(&1 + 1)) end

      assert Shards.get(tab, :n) == 1
    end

    test "KeyError from fetch!/2 and update!/3", %{tab: tab} do
      error = assert_raise KeyError, fn -> Shards.fetch!(tab, :missing) end
      assert error.key == :missing
      assert error.term == tab
      assert Exception.message(error) == "key :missing not found in table #{inspect(tab)}"
      assert_raise KeyError, fn -> Shards.update!(tab, :missing, & &1) end
      refute Shards.member(tab, :missing)
    end
  end

  describe "errors of the functions delegated to :shards (ets as the oracle)" do
    # Each case is a fun of the module (:ets or Shards) and a table made by
    # it; both must raise ArgumentError, explaining the same argument the
    # same way.
    @same_explanation [
      lookup_missing_table: {:missing, &__MODULE__.call_lookup/2},
      lookup_element_badkey: {:table, &__MODULE__.call_lookup_element/2},
      update_counter_badkey: {:table, &__MODULE__.call_update_counter/2},
      update_element_keypos: {:table, &__MODULE__.call_update_element_key/2},
      give_away_to_self: {:table, &__MODULE__.call_give_away_self/2}
    ]

    # Here :shards does not give ets's error_info cause yet (its message
    # differs), so only the exception is compared.
    @same_exception [
      insert_not_a_tuple: {:table, &__MODULE__.call_insert_atom/2},
      insert_empty_tuple: {:table, &__MODULE__.call_insert_empty/2},
      lookup_element_position: {:table, &__MODULE__.call_lookup_element_pos/2},
      info_bad_table: {:bad, &__MODULE__.call_info/2}
    ]

    def call_lookup(mod, tab), do: mod.lookup(tab, :k)
    def call_insert_atom(mod, tab), do: mod.insert(tab, :not_a_tuple)
    def call_insert_empty(mod, tab), do: mod.insert(tab, {})
    def call_lookup_element(mod, tab), do: mod.lookup_element(tab, :missing, 2)
    def call_lookup_element_pos(mod, tab), do: mod.lookup_element(tab, :k, 5)
    def call_update_counter(mod, tab), do: mod.update_counter(tab, :missing, 1)
    def call_update_element_key(mod, tab), do: mod.update_element(tab, :k, {1, :x})
    def call_info(mod, tab), do: mod.info(tab, :size)
    def call_give_away_self(mod, tab), do: mod.give_away(tab, self(), :gift)

    defp table(:missing, _mod), do: uniq(:missing)
    defp table(:bad, _mod), do: 42

    defp table(:table, mod) do
      tab = mod.new(:oracle, [:set, :public])
      mod.insert(tab, {:k, 1})
      tab
    end

    # The "* Nth argument: ..." lines of an ArgumentError raised by fun.
    defp arguments_explained(fun) do
      error = assert_raise ArgumentError, fun

      error.message
      |> String.split("\n")
      |> Enum.filter(&String.starts_with?(&1, "  * "))
      |> Enum.map(&String.replace(&1, ~r/\b(ETS|shards) table\b/, "table"))
    end

    for {name, {kind, call}} <- @same_explanation do
      test "#{name}: same explanation" do
        {kind, call} = {unquote(kind), unquote(call)}
        ets = arguments_explained(fn -> call.(:ets, table(kind, :ets)) end)
        shards = arguments_explained(fn -> call.(Shards, table(kind, Shards)) end)
        assert shards != []
        assert shards == ets
      end
    end

    # shards_error gives its texts as binaries, which Elixir needs for the
    # "general" part of a message.
    test "a general explanation reads as text" do
      tab = Shards.new(:general, [])
      error = assert_raise ArgumentError, fn -> Shards.insert(tab, :not_a_tuple) end
      assert error.message =~ "one of the arguments is invalid for this table"
    end

    for {name, {kind, call}} <- @same_exception do
      test "#{name}: ArgumentError" do
        {kind, call} = {unquote(kind), unquote(call)}
        assert_raise ArgumentError, fn -> call.(:ets, table(kind, :ets)) end
        assert_raise ArgumentError, fn -> call.(Shards, table(kind, Shards)) end
      end
    end
  end
end
