defmodule ShardsOptionsTest do
  use ExUnit.Case, async: true

  alias Shards.Options

  doctest Shards.Options

  # Info items that ets and shards report alike for the same options.
  @items [:type, :protection, :keypos, :named_table, :read_concurrency, :write_concurrency]

  defp uniq(prefix), do: :"#{prefix}_#{System.unique_integer([:positive])}"

  defp info(module, tab), do: Map.new(@items, &{&1, module.info(tab, &1)})

  describe "to_ets/1" do
    test "translates every keyword option" do
      fun = fn key, n -> :erlang.phash2(key, n) end
      heir = self()

      assert Options.to_ets(
               type: :bag,
               access: :private,
               named_table: true,
               compressed: true,
               keypos: 3,
               heir: {heir, :data},
               read_concurrency: true,
               write_concurrency: :auto,
               decentralized_counters: false,
               partitions: 4,
               n_shards: 5,
               keyslot_fun: fun,
               parallel: true,
               parallel_timeout: :infinity
             ) == [
               :bag,
               :private,
               :named_table,
               :compressed,
               {:keypos, 3},
               {:heir, heir, :data},
               {:read_concurrency, true},
               {:write_concurrency, :auto},
               {:decentralized_counters, false},
               {:partitions, 4},
               {:n_shards, 5},
               {:keyslot_fun, fun},
               {:parallel, true},
               {:parallel_timeout, :infinity}
             ]
    end

    test "maps every table type to its atom" do
      for type <- [:set, :ordered_set, :bag, :duplicate_bag] do
        assert Options.to_ets(type: type) == [type]
        assert Options.to_ets([type]) == [type]
      end
    end

    test "heir forms" do
      pid = self()
      assert Options.to_ets(heir: pid) == [{:heir, pid, nil}]
      assert Options.to_ets(heir: :none) == [{:heir, :none}]
      assert Options.to_ets([{:heir, pid, 1}]) == [{:heir, pid, 1}]
    end

    test "false flags are left out" do
      assert Options.to_ets(named_table: false, compressed: false) == []
    end

    test "ets-style lists pass through unchanged" do
      ets = [
        :ordered_set,
        :public,
        :named_table,
        :compressed,
        {:keypos, 2},
        {:heir, :none},
        {:write_concurrency, true},
        {:read_concurrency, false},
        {:partitions, 3}
      ]

      assert Options.to_ets(ets) == ets
    end

    test "bad values name the option and what was expected" do
      cases = [
        {[type: :hash], "the :type option: :hash, expected one of :set"},
        {[access: :open], "the :access option: :open, expected one of :public"},
        {[keypos: 0], "the :keypos option: 0, expected a positive integer"},
        {[partitions: -1], "the :partitions option: -1, expected a positive integer"},
        {[partitions: :many], "the :partitions option: :many, expected a positive integer"},
        {[named_table: :yes], "the :named_table option: :yes, expected a boolean"},
        {[compressed: 1], "the :compressed option: 1, expected a boolean"},
        {[read_concurrency: nil], "the :read_concurrency option: nil, expected a boolean"},
        {[write_concurrency: :on],
         "the :write_concurrency option: :on, expected a boolean or :auto"},
        {[heir: "me"], "the :heir option: \"me\", expected a pid, {pid, data} or :none"},
        {[keyslot_fun: &is_atom/1],
         "the :keyslot_fun option: &:erlang.is_atom/1, expected a function of arity 2"},
        {[parallel_timeout: -1],
         "the :parallel_timeout option: -1, expected a non-negative integer"}
      ]

      for {options, message} <- cases do
        error = assert_raise ArgumentError, fn -> Options.to_ets(options) end
        assert error.message =~ "invalid value for " <> message
      end
    end

    test "unknown options and non-lists are refused" do
      assert_raise ArgumentError, "unknown option for a shards table: :sorted", fn ->
        Options.to_ets([:sorted])
      end

      assert_raise ArgumentError, "unknown option for a shards table: {:heir, 1, 2}", fn ->
        Options.to_ets([{:heir, 1, 2}])
      end

      assert_raise ArgumentError, "expected a list of table options, got: :set", fn ->
        Options.to_ets(:set)
      end
    end
  end

  describe "Shards.new/2 with keyword options (ets as the oracle)" do
    test "creates the table ets creates with the translated options" do
      option_sets = [
        [],
        [type: :set],
        [access: :public],
        [access: :private, keypos: 2],
        [:set, access: :public, read_concurrency: true],
        [write_concurrency: :auto],
        [write_concurrency: true, compressed: true, decentralized_counters: true],
        [{:keypos, 3}, :protected]
      ]

      for options <- option_sets do
        ets = :ets.new(:oracle, Options.to_ets(options))
        tab = Shards.new(:subject, options ++ [partitions: 2])
        assert info(Shards, tab) == info(:ets, ets), "options: #{inspect(options)}"
        :ets.delete(ets)
        Shards.delete(tab)
      end
    end

    test "named tables" do
      name = uniq(:kw_named)
      assert Shards.new(name, named_table: true) == name
      assert Shards.info(name, :named_table)
      Shards.delete(name)
    end

    test "the partitioning options reach :shards" do
      tab = Shards.new(:kw_partitions, n_shards: 5)
      assert Shards.info(tab, :partitions) == 5
    end

    test "bad options raise ArgumentError before reaching :shards" do
      assert_raise ArgumentError, ~r/invalid value for the :keypos option/, fn ->
        Shards.new(:kw_bad, keypos: -2)
      end
    end

    test "errors of :shards.new/2 itself are ets's badarg" do
      name = uniq(:kw_taken)
      Shards.new(name, named_table: true)
      :ets.new(name, [:named_table])

      ets_error = assert_raise ArgumentError, fn -> :ets.new(name, [:named_table]) end
      shards_error = assert_raise ArgumentError, fn -> Shards.new(name, named_table: true) end
      assert ets_error.message =~ "1st argument: table name already exists"
      assert shards_error.message =~ "1st argument: table name already exists"
    end
  end

  describe "supervised/1" do
    test "requires one atom :name" do
      for options <- [[], [name: "cache"], [name: :a, name: :b], :cache] do
        assert_raise ArgumentError, fn -> Options.supervised(options) end
      end
    end

    test "keeps the given access and named_table" do
      assert Options.supervised([:named_table, :private, name: :c]) ==
               {:c, [:named_table, :private]}

      assert Options.supervised(name: :c, access: :public, type: :bag) ==
               {:c, [:named_table, :public, :bag]}
    end

    test "refuses a heir" do
      error =
        assert_raise ArgumentError, fn ->
          Options.supervised(name: :c, heir: self())
        end

      assert error.message =~ "a supervised table cannot have a :heir"

      assert Options.supervised(name: :c, heir: :none) ==
               {:c, [:named_table, :public, {:heir, :none}]}
    end
  end
end
