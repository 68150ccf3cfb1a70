defmodule Shards do
  @moduledoc """
  ETS-compatible partitioned tables, implemented as a Rust NIF.

  `Shards` has three parts:

    * **the ETS-compatible API**: `new/2`, `insert/2`, `lookup/2`, ... take
      the same arguments as their `:ets` namesakes and give the same results
      and errors (`ArgumentError` where ets raises badarg). They delegate to
      the Erlang module `:shards`; only `new/2` adds something: keyword
      options (see `Shards.Options`);
    * **key-value conveniences** for tables of `{key, value}` tuples:
      `get/3`, `fetch/2`, `fetch!/2`, `put/3`, `put_new/3`, `update/4`,
      `update!/3`, `get_and_update/3`, `increment/3`, `pop/3`, `keys/1`,
      `values/1` and `size/1` (`delete/2` and `take/2` are the ets ones);
    * **supervision**: `child_spec/1` puts a table in a supervision tree.

  ## Example

      iex> tab = Shards.new(:users, partitions: 4)
      iex> Shards.put(tab, :alice, %{age: 33})
      :ok
      iex> Shards.get(tab, :alice)
      %{age: 33}
      iex> Shards.insert(tab, {:bob, %{age: 40}})
      true
      iex> Shards.lookup(tab, :bob)
      [{:bob, %{age: 40}}]
      iex> Shards.delete(tab)
      true

  ## The key-value conveniences

  Objects are `{key, value}` tuples with the key first (keypos 1); a
  convenience given a table with another key position, or finding an object
  of another shape, raises `ArgumentError`. Bad arguments raise
  `ArgumentError` with a message that says what was wrong (`table :cache
  does not exist`, `table :cache is protected: only its owner ... can write
  to it`, ...).

  In a `:bag` or `:duplicate_bag` table a key holds several values:
  `get/3`, `fetch/2`, `fetch!/2` and `pop/3` give the list of values of
  the key, `put/3` adds a value, `put_new/3` adds one only if the key is
  absent, `keys/1` lists each key once, and `values/1` and `size/1` count
  every object. `update/4`, `update!/3`, `get_and_update/3` and
  `increment/3` need one value per key and raise `ArgumentError` for bags.

  ### Atomicity

  Each ETS-compatible call is atomic, and so are the conveniences built on
  one of them: `put/3` (insert), `put_new/3` (insert_new: of several
  concurrent callers exactly one wins), `increment/3` (update_counter),
  `pop/3` (take) and `delete/2`.

  `update/4`, `update!/3` and `get_and_update/3` are **not** atomic: they
  read the value, apply the function in the caller, and write the result.
  A write by another process to the same key between the read and the
  write is lost. Use them when one process writes a key (or when a lost
  update does not matter); for counters use `increment/3`, and to create a
  value once use `put_new/3`.

  ## Supervision

  A table is owned by the process that created it and is deleted when that
  process exits, as with ets. To keep a table apart from the processes that
  use it, start it under a supervisor:

      children = [
        {Shards, name: :cache, partitions: 8}
      ]

      Supervisor.start_link(children, strategy: :one_for_one)

  See `child_spec/1`. From Erlang, `:shards_group` manages a dynamic set of
  such tables.
  """

  @typedoc "A table: its name (for a named table) or its reference."
  @type tab :: :shards.tab()

  @typedoc "The table metadata of the shards 1.x API (see `table_meta/1`)."
  @type meta :: :shards.meta()

  @typedoc "A key."
  @type key :: term

  @typedoc "A value stored with a key by the key-value conveniences."
  @type value :: term

  @typedoc "An update operation of `update_counter/3`: `{pos, incr}` or `{pos, incr, threshold, set_value}`."
  @type update_op ::
          integer
          | {pos_integer, integer}
          | {pos_integer, integer, integer, integer}
          | [{pos_integer, integer} | {pos_integer, integer, integer, integer}]

  @typedoc "An element update of `update_element/3`: `{pos, value}` or a list of them."
  @type element_spec :: {pos_integer, term} | [{pos_integer, term}]

  ## Tables

  @doc """
  Creates a table, like `:ets.new/2`, and returns its name (for a named
  table) or its reference.

  `options` are keywords, ets-style items, or both (see `Shards.Options`):
  `type:`, `access:`, `named_table:`, `keypos:`, `heir:`, `partitions:`,
  `keyslot_fun:`, ... The default is a protected `:set` with one partition
  per online scheduler.

  ## Examples

      iex> tab = Shards.new(:cache, type: :set, access: :public, partitions: 8)
      iex> {Shards.info(tab, :type), Shards.info(tab, :protection), Shards.info(tab, :partitions)}
      {:set, :public, 8}
      iex> Shards.delete(tab)
      true

      iex> Shards.new(:doc_named, [:set, :named_table, keypos: 2])
      :doc_named
      iex> Shards.info(:doc_named, :keypos)
      2
      iex> Shards.delete(:doc_named)
      true

      iex> Shards.new(:cache, partitions: 0)
      ** (ArgumentError) invalid value for the :partitions option: 0, expected a positive integer
  """
  @spec new(atom, [Shards.Options.option()]) :: tab
  def new(name, options \\ []) do
    :shards.new(name, Shards.Options.to_ets(options))
  end

  @doc """
  Deletes the whole table, like `:ets.delete/1`.

      iex> tab = Shards.new(:doomed)
      iex> Shards.delete(tab)
      true
      iex> Shards.info(tab)
      :undefined
  """
  @spec delete(tab) :: true
  defdelegate delete(tab), to: :shards

  @doc """
  Deletes every object, like `:ets.delete_all_objects/1`.

      iex> tab = Shards.new(:emptied)
      iex> Shards.insert(tab, [{:a, 1}, {:b, 2}])
      true
      iex> Shards.delete_all_objects(tab)
      true
      iex> Shards.size(tab)
      0
  """
  @spec delete_all_objects(tab) :: true
  defdelegate delete_all_objects(tab), to: :shards

  @doc """
  Information about the table as a keyword list, like `:ets.info/1`, with
  `:partitions` added; `:undefined` if there is no such table.

      iex> tab = Shards.new(:informed, partitions: 3)
      iex> info = Shards.info(tab)
      iex> {info[:partitions], info[:size], info[:owner] == self()}
      {3, 0, true}
  """
  @spec info(tab) :: [{atom, term}] | :undefined
  defdelegate info(tab), to: :shards

  @doc """
  One item of table information, like `:ets.info/2`; `:partitions` gives
  the number of partitions.

      iex> tab = Shards.new(:informed_item, partitions: 2)
      iex> Shards.info(tab, :partitions)
      2
      iex> Shards.info(tab, :type)
      :set
  """
  @spec info(tab, atom) :: term
  defdelegate info(tab, item), to: :shards

  @doc """
  All tables, like `:ets.all/0`: names for named tables, else references.

      iex> tab = Shards.new(:listed)
      iex> tab in Shards.all()
      true
  """
  @spec all() :: [tab]
  defdelegate all(), to: :shards

  @doc """
  The reference of the named table `name`, or `:undefined`, like
  `:ets.whereis/1`.

      iex> Shards.new(:doc_whereis, named_table: true)
      iex> is_reference(Shards.whereis(:doc_whereis))
      true
      iex> Shards.delete(:doc_whereis)
      iex> Shards.whereis(:doc_whereis)
      :undefined
  """
  @spec whereis(atom) :: reference | :undefined
  defdelegate whereis(name), to: :shards

  @doc """
  Renames a named table, like `:ets.rename/2`.

      iex> Shards.new(:doc_old_name, [:named_table])
      iex> Shards.rename(:doc_old_name, :doc_new_name)
      :doc_new_name
      iex> Shards.info(:doc_new_name, :name)
      :doc_new_name
      iex> Shards.delete(:doc_new_name)
      true
  """
  @spec rename(tab, atom) :: tab
  defdelegate rename(tab, name), to: :shards

  @doc """
  Makes `pid` the owner of the table, like `:ets.give_away/3`; `pid`
  receives `{:"ETS-TRANSFER", tab, from_pid, gift_data}`.

      iex> tab = Shards.new(:given)
      iex> parent = self()
      iex> pid =
      ...>   spawn(fn ->
      ...>     receive do
      ...>       {:"ETS-TRANSFER", t, ^parent, :gift} -> send(parent, {:got, t})
      ...>     end
      ...>
      ...>     receive do: (:stop -> :ok)
      ...>   end)
      iex> Shards.give_away(tab, pid, :gift)
      true
      iex> receive do: ({:got, ^tab} -> Shards.info(tab, :owner) == pid)
      true
      iex> send(pid, :stop)
  """
  @spec give_away(tab, pid, term) :: true
  defdelegate give_away(tab, pid, gift_data), to: :shards

  @doc """
  Sets table options (`{:heir, pid, data}` or `{:heir, :none}`), like
  `:ets.setopts/2`.

      iex> tab = Shards.new(:with_heir)
      iex> Shards.setopts(tab, {:heir, self(), :data})
      true
      iex> Shards.info(tab, :heir) == self()
      true
  """
  @spec setopts(tab, tuple | [tuple]) :: true
  defdelegate setopts(tab, options), to: :shards

  ## The ETS-compatible object API

  @doc """
  Inserts an object or a list of objects, like `:ets.insert/2`. A list is
  inserted atomically, even across partitions.

      iex> tab = Shards.new(:inserted)
      iex> Shards.insert(tab, [{:a, 1}, {:b, 2}])
      true
      iex> Shards.insert(tab, {:a, 3})
      true
      iex> Shards.lookup(tab, :a)
      [{:a, 3}]
  """
  @spec insert(tab, tuple | [tuple]) :: true
  defdelegate insert(tab, objects), to: :shards

  @doc """
  Inserts unless a key exists already, like `:ets.insert_new/2`. A list
  is inserted whole or not at all, atomically.

      iex> tab = Shards.new(:inserted_new)
      iex> Shards.insert_new(tab, {:a, 1})
      true
      iex> Shards.insert_new(tab, [{:b, 2}, {:a, 9}])
      false
      iex> Shards.tab2list(tab)
      [{:a, 1}]
  """
  @spec insert_new(tab, tuple | [tuple]) :: boolean
  defdelegate insert_new(tab, objects), to: :shards

  @doc """
  The objects with key `key`, like `:ets.lookup/2`.

      iex> tab = Shards.new(:looked_up)
      iex> Shards.insert(tab, {:a, 1})
      iex> Shards.lookup(tab, :a)
      [{:a, 1}]
      iex> Shards.lookup(tab, :missing)
      []
  """
  @spec lookup(tab, key) :: [tuple]
  defdelegate lookup(tab, key), to: :shards

  @doc """
  Element `pos` of the object with key `key`, like `:ets.lookup_element/3`;
  raises `ArgumentError` if there is no such key.

      iex> tab = Shards.new(:elements)
      iex> Shards.insert(tab, {:a, 1, :x})
      iex> Shards.lookup_element(tab, :a, 3)
      :x
      iex> try do
      ...>   Shards.lookup_element(tab, :missing, 2)
      ...> rescue
      ...>   error in ArgumentError -> error.message =~ "2nd argument: not a key that exists"
      ...> end
      true
  """
  @spec lookup_element(tab, key, pos_integer) :: term
  defdelegate lookup_element(tab, key, pos), to: :shards

  @doc """
  As `lookup_element/3`, but returns `default` when the key is missing
  (the OTP 26 `:ets.lookup_element/4`).

      iex> tab = Shards.new(:elements_default)
      iex> Shards.lookup_element(tab, :missing, 2, :none)
      :none
  """
  @spec lookup_element(tab, key, pos_integer, term) :: term
  defdelegate lookup_element(tab, key, pos, default), to: :shards

  @doc """
  Whether an object with key `key` exists, like `:ets.member/2`.

      iex> tab = Shards.new(:members)
      iex> Shards.insert(tab, {:a, 1})
      iex> {Shards.member(tab, :a), Shards.member(tab, :b)}
      {true, false}
  """
  @spec member(tab, key) :: boolean
  defdelegate member(tab, key), to: :shards

  @doc """
  Deletes the objects with key `key`, like `:ets.delete/2`. This is also
  the key-value convenience: deleting a missing key is not an error.

      iex> tab = Shards.new(:deleted_keys)
      iex> Shards.put(tab, :a, 1)
      iex> Shards.delete(tab, :a)
      true
      iex> Shards.delete(tab, :a)
      true
      iex> Shards.get(tab, :a)
      nil
  """
  @spec delete(tab, key) :: true
  defdelegate delete(tab, key), to: :shards

  @doc """
  Deletes this exact object, like `:ets.delete_object/2`.

      iex> tab = Shards.new(:deleted_objects)
      iex> Shards.insert(tab, {:a, 1})
      iex> Shards.delete_object(tab, {:a, 2})
      true
      iex> Shards.delete_object(tab, {:a, 1})
      true
      iex> Shards.lookup(tab, :a)
      []
  """
  @spec delete_object(tab, tuple) :: true
  defdelegate delete_object(tab, object), to: :shards

  @doc """
  Removes and returns the objects with key `key`, atomically, like
  `:ets.take/2`. See `pop/3` for the value alone.

      iex> tab = Shards.new(:taken)
      iex> Shards.insert(tab, {:a, 1})
      iex> Shards.take(tab, :a)
      [{:a, 1}]
      iex> Shards.take(tab, :a)
      []
  """
  @spec take(tab, key) :: [tuple]
  defdelegate take(tab, key), to: :shards

  @doc """
  Updates counters in the object with key `key` atomically, like
  `:ets.update_counter/3`. Raises `ArgumentError` if there is no such key.

      iex> tab = Shards.new(:counters)
      iex> Shards.insert(tab, {:hits, 10, 0})
      iex> Shards.update_counter(tab, :hits, 5)
      15
      iex> Shards.update_counter(tab, :hits, [{2, 1}, {3, -1, 0, 9}])
      [16, 9]
  """
  @spec update_counter(tab, key, update_op) :: integer | [integer]
  defdelegate update_counter(tab, key, update_op), to: :shards

  @doc """
  As `update_counter/3`, but inserts `default` (with its key set to `key`)
  first when the key is missing, like `:ets.update_counter/4`.

      iex> tab = Shards.new(:counters_default)
      iex> Shards.update_counter(tab, :hits, {2, 1}, {:hits, 0})
      1
      iex> Shards.update_counter(tab, :hits, {2, 1}, {:hits, 0})
      2
  """
  @spec update_counter(tab, key, update_op, tuple) :: integer | [integer]
  defdelegate update_counter(tab, key, update_op, default), to: :shards

  @doc """
  Replaces elements of the object with key `key`, like
  `:ets.update_element/3`; `false` if there is no such key.

      iex> tab = Shards.new(:updated_elements)
      iex> Shards.insert(tab, {:a, 1, 2})
      iex> Shards.update_element(tab, :a, [{2, :x}, {3, :y}])
      true
      iex> Shards.update_element(tab, :missing, {2, :x})
      false
      iex> Shards.lookup(tab, :a)
      [{:a, :x, :y}]
  """
  @spec update_element(tab, key, element_spec) :: boolean
  defdelegate update_element(tab, key, element_spec), to: :shards

  @doc """
  As `update_element/3`, but inserts `default` (with its key set to `key`)
  first when the key is missing (the OTP 27 `:ets.update_element/4`).

      iex> tab = Shards.new(:updated_elements_default)
      iex> Shards.update_element(tab, :a, {3, :new}, {:a, 0, 0})
      true
      iex> Shards.lookup(tab, :a)
      [{:a, 0, :new}]
  """
  @spec update_element(tab, key, element_spec, tuple) :: boolean
  defdelegate update_element(tab, key, element_spec, default), to: :shards

  @doc """
  All objects, like `:ets.tab2list/1`.

      iex> tab = Shards.new(:listed_objects)
      iex> Shards.insert(tab, [{:a, 1}, {:b, 2}])
      iex> Enum.sort(Shards.tab2list(tab))
      [{:a, 1}, {:b, 2}]
  """
  @spec tab2list(tab) :: [tuple]
  defdelegate tab2list(tab), to: :shards

  @doc """
  The first key, like `:ets.first/1`: the smallest key of an `:ordered_set`
  (over all its partitions), some key of the other types, or
  `:"$end_of_table"` for an empty table.

      iex> tab = Shards.new(:first_key, type: :ordered_set, partitions: 4)
      iex> Shards.first(tab)
      :"$end_of_table"
      iex> Shards.insert(tab, [{3, :c}, {1, :a}, {2, :b}])
      iex> Shards.first(tab)
      1
  """
  @spec first(tab) :: key | :"$end_of_table"
  defdelegate first(tab), to: :shards

  @doc """
  The key after `key`, like `:ets.next/2`. In an `:ordered_set` the key need
  not be in the table; in the other types it must be (or the table must be
  fixed with `safe_fixtable/2`).

      iex> tab = Shards.new(:next_key, type: :ordered_set)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}, {3, :c}])
      iex> Shards.next(tab, 1)
      2
      iex> Shards.next(tab, 2.5)
      3
      iex> Shards.next(tab, 3)
      :"$end_of_table"
  """
  @spec next(tab, key) :: key | :"$end_of_table"
  defdelegate next(tab, key), to: :shards

  @doc """
  The last key, like `:ets.last/1` (the same as `first/1` for unordered
  types).

      iex> tab = Shards.new(:last_key, type: :ordered_set)
      iex> Shards.insert(tab, [{1, :a}, {:z, :b}, {"s", :c}])
      iex> Shards.last(tab)
      "s"
  """
  @spec last(tab) :: key | :"$end_of_table"
  defdelegate last(tab), to: :shards

  @doc """
  The key before `key`, like `:ets.prev/2` (the same as `next/2` for
  unordered types).

      iex> tab = Shards.new(:prev_key, type: :ordered_set)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}])
      iex> Shards.prev(tab, 2)
      1
      iex> Shards.prev(tab, 1)
      :"$end_of_table"
  """
  @spec prev(tab, key) :: key | :"$end_of_table"
  defdelegate prev(tab, key), to: :shards

  @doc """
  Folds over every object, like `:ets.foldl/3` (in key order for an
  `:ordered_set`).

      iex> tab = Shards.new(:folded_left, type: :ordered_set)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}])
      iex> Shards.foldl(fn {k, _}, acc -> [k | acc] end, [], tab)
      [2, 1]
  """
  @spec foldl((tuple, acc -> acc), acc, tab) :: acc when acc: term
  defdelegate foldl(fun, acc, tab), to: :shards

  @doc """
  Folds over every object from the last, like `:ets.foldr/3`.

      iex> tab = Shards.new(:folded_right, type: :ordered_set)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}])
      iex> Shards.foldr(fn {k, _}, acc -> [k | acc] end, [], tab)
      [1, 2]
  """
  @spec foldr((tuple, acc -> acc), acc, tab) :: acc when acc: term
  defdelegate foldr(fun, acc, tab), to: :shards

  @doc """
  Fixes (`true`) or releases (`false`) a table, like `:ets.safe_fixtable/2`.
  While fixed, a `first/1` and `next/2` walk sees every key that stays in
  the table exactly once, even as other processes write, and `next/2`
  accepts a key deleted meanwhile. A process's fixations end when it exits.

      iex> tab = Shards.new(:fixed_table)
      iex> Shards.safe_fixtable(tab, true)
      true
      iex> Shards.info(tab, :fixed)
      true
      iex> Shards.safe_fixtable(tab, false)
      true
      iex> Shards.info(tab, :fixed)
      false
  """
  @spec safe_fixtable(tab, boolean) :: true
  defdelegate safe_fixtable(tab, fix), to: :shards

  ## Queries: match specifications

  @typedoc "A match specification, as `:ets.select/2` takes it."
  @type match_spec :: [{term, [term], [term]}]

  @typedoc "A `select/3` (or `match/3`) continuation."
  @type continuation :: :shards.continuation()

  @doc """
  The results of `match_spec` for every object, like `:ets.select/2` (in
  key order for an `:ordered_set`).

      iex> tab = Shards.new(:selected, type: :ordered_set)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}, {3, :c}])
      iex> Shards.select(tab, [{{:"$1", :_}, [{:>, :"$1", 1}], [:"$1"]}])
      [2, 3]
  """
  @spec select(tab, match_spec) :: [term]
  defdelegate select(tab, match_spec), to: :shards

  @doc """
  Up to `limit` results and a continuation for `select/1`, like
  `:ets.select/3`.

      iex> tab = Shards.new(:selected_in_chunks, type: :ordered_set)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}, {3, :c}])
      iex> {[1, 2], cont} = Shards.select(tab, [{{:"$1", :_}, [], [:"$1"]}], 2)
      iex> {[3], cont} = Shards.select(cont)
      iex> Shards.select(cont)
      :"$end_of_table"
  """
  @spec select(tab, match_spec, pos_integer) :: {[term], continuation} | :"$end_of_table"
  defdelegate select(tab, match_spec, limit), to: :shards

  @doc "The next chunk of a `select/3` continuation, like `:ets.select/1`."
  @spec select(continuation) :: {[term], continuation} | :"$end_of_table"
  defdelegate select(continuation), to: :shards

  @doc """
  As `select/2`, in reverse key order for an `:ordered_set`, like
  `:ets.select_reverse/2`.

      iex> tab = Shards.new(:selected_reverse, type: :ordered_set)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}])
      iex> Shards.select_reverse(tab, [{{:"$1", :_}, [], [:"$1"]}])
      [2, 1]
  """
  @spec select_reverse(tab, match_spec) :: [term]
  defdelegate select_reverse(tab, match_spec), to: :shards

  @doc """
  How many objects `match_spec` returns `true` for, like
  `:ets.select_count/2`.

      iex> tab = Shards.new(:counted)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}, {3, :a}])
      iex> Shards.select_count(tab, [{{:_, :a}, [], [true]}])
      2
  """
  @spec select_count(tab, match_spec) :: non_neg_integer
  defdelegate select_count(tab, match_spec), to: :shards

  @doc """
  Deletes the objects `match_spec` returns `true` for; returns how many,
  like `:ets.select_delete/2`.

      iex> tab = Shards.new(:select_deleted)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}, {3, :a}])
      iex> Shards.select_delete(tab, [{{:_, :a}, [], [true]}])
      2
      iex> Shards.tab2list(tab)
      [{2, :b}]
  """
  @spec select_delete(tab, match_spec) :: non_neg_integer
  defdelegate select_delete(tab, match_spec), to: :shards

  @doc """
  Replaces each matching object by the body's result (same key); returns
  how many, like `:ets.select_replace/2`.

      iex> tab = Shards.new(:select_replaced)
      iex> Shards.insert(tab, {:n, 1})
      iex> Shards.select_replace(tab, [{{:"$1", :"$2"}, [], [{{:"$1", {:+, :"$2", 1}}}]}])
      1
      iex> Shards.lookup(tab, :n)
      [{:n, 2}]
  """
  @spec select_replace(tab, match_spec) :: non_neg_integer
  defdelegate select_replace(tab, match_spec), to: :shards

  @doc """
  The bindings of `pattern` in every matching object, like `:ets.match/2`.

      iex> tab = Shards.new(:matched, type: :ordered_set)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}])
      iex> Shards.match(tab, {:"$1", :_})
      [[1], [2]]
  """
  @spec match(tab, term) :: [[term]]
  defdelegate match(tab, pattern), to: :shards

  @doc """
  The objects matching `pattern`, like `:ets.match_object/2`.

      iex> tab = Shards.new(:matched_objects)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}])
      iex> Shards.match_object(tab, {:_, :b})
      [{2, :b}]
  """
  @spec match_object(tab, term) :: [tuple]
  defdelegate match_object(tab, pattern), to: :shards

  @doc """
  Deletes the objects matching `pattern`, like `:ets.match_delete/2`.

      iex> tab = Shards.new(:match_deleted)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}])
      iex> Shards.match_delete(tab, {:_, :a})
      true
      iex> Shards.tab2list(tab)
      [{2, :b}]
  """
  @spec match_delete(tab, term) :: true
  defdelegate match_delete(tab, pattern), to: :shards

  @doc """
  A QLC table, like `:ets.table/2`: queries on the key use `lookup/2`.

      iex> tab = Shards.new(:queried, type: :ordered_set)
      iex> Shards.insert(tab, [{1, :a}, {2, :b}, {3, :a}])
      iex> q = :qlc.string_to_handle(~c"[K || {K, V} <- T, V =:= a].", [], [{:T, Shards.table(tab)}])
      iex> :qlc.e(q)
      [1, 3]
  """
  @spec table(tab, keyword) :: :qlc.query_handle()
  defdelegate table(tab, options \\ []), to: :shards

  @doc """
  A lazy stream of every object, read in chunks of `chunk_size` through
  `select/3` continuations, so a large table is never copied whole (in key
  order for an `:ordered_set`). Objects written while the stream runs may
  or may not be seen, as with `:ets.select/3`.

      iex> tab = Shards.new(:streamed, type: :ordered_set)
      iex> Shards.insert(tab, Enum.map(1..5, &{&1, &1 * &1}))
      iex> tab |> Shards.stream(2) |> Enum.map(fn {_k, v} -> v end)
      [1, 4, 9, 16, 25]
  """
  @spec stream(tab, pos_integer) :: Enumerable.t()
  def stream(tab, chunk_size \\ 500) when is_integer(chunk_size) and chunk_size > 0 do
    Stream.resource(
      fn -> {:start, tab} end,
      fn
        :done ->
          {:halt, :done}

        {:start, t} ->
          next_chunk(:shards.select(t, [{:_, [], [:"$_"]}], chunk_size))

        {:cont, cont} ->
          next_chunk(:shards.select(cont))
      end,
      fn _ -> :ok end
    )
  end

  defp next_chunk(:"$end_of_table"), do: {:halt, :done}
  defp next_chunk({objects, :"$end_of_table"}), do: {objects, :done}
  defp next_chunk({objects, cont}), do: {objects, {:cont, cont}}

  ## Metadata (the shards 1.x API)

  @doc """
  The table's metadata (shards 1.x): a map with its name, keypos,
  partitions and keyslot function. The functions below that take it last
  only exist so that shards 1.x code runs unchanged; they ignore it.

      iex> tab = Shards.new(:doc_meta, partitions: 2)
      iex> meta = Shards.table_meta(tab)
      iex> {meta.name, meta.partitions, meta.keypos}
      {:doc_meta, 2, 1}
  """
  @spec table_meta(tab) :: meta
  defdelegate table_meta(tab), to: :shards

  @doc """
  Stores `value` under `key` in the table's metadata (not among its
  objects).

      iex> tab = Shards.new(:doc_put_meta)
      iex> Shards.put_meta(tab, :owner_app, :billing)
      :ok
      iex> Shards.get_meta(tab, :owner_app)
      :billing
  """
  @spec put_meta(tab, term, term) :: :ok
  defdelegate put_meta(tab, key, value), to: :shards

  @doc """
  The metadata value stored under `key`, or `:undefined`.

      iex> tab = Shards.new(:doc_get_meta)
      iex> Shards.get_meta(tab, :missing)
      :undefined
  """
  @spec get_meta(tab, term) :: term
  defdelegate get_meta(tab, key), to: :shards

  @doc """
  The metadata value stored under `key`, or `default`.

      iex> tab = Shards.new(:doc_get_meta_default)
      iex> Shards.get_meta(tab, :missing, 0)
      0
  """
  @spec get_meta(tab, term, term) :: term
  defdelegate get_meta(tab, key, default), to: :shards

  @doc """
  `insert/2`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_insert)
      iex> Shards.insert(tab, {:a, 1}, Shards.table_meta(tab))
      true
  """
  @spec insert(tab, tuple | [tuple], meta) :: true
  defdelegate insert(tab, objects, meta), to: :shards

  @doc """
  `insert_new/2`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_insert_new)
      iex> Shards.insert_new(tab, {:a, 1}, Shards.table_meta(tab))
      true
  """
  @spec insert_new(tab, tuple | [tuple], meta) :: boolean
  defdelegate insert_new(tab, objects, meta), to: :shards

  @doc """
  `lookup/2`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_lookup)
      iex> Shards.insert(tab, {:a, 1})
      iex> Shards.lookup(tab, :a, Shards.table_meta(tab))
      [{:a, 1}]
  """
  @spec lookup(tab, key, meta) :: [tuple]
  defdelegate lookup(tab, key, meta), to: :shards

  @doc """
  `member/2`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_member)
      iex> Shards.member(tab, :a, Shards.table_meta(tab))
      false
  """
  @spec member(tab, key, meta) :: boolean
  defdelegate member(tab, key, meta), to: :shards

  @doc """
  `delete/2`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_delete)
      iex> Shards.insert(tab, {:a, 1})
      iex> Shards.delete(tab, :a, Shards.table_meta(tab))
      true
      iex> Shards.lookup(tab, :a)
      []
  """
  @spec delete(tab, key, meta) :: true
  defdelegate delete(tab, key, meta), to: :shards

  @doc """
  `delete_object/2`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_delete_object)
      iex> Shards.insert(tab, {:a, 1})
      iex> Shards.delete_object(tab, {:a, 1}, Shards.table_meta(tab))
      true
      iex> Shards.lookup(tab, :a)
      []
  """
  @spec delete_object(tab, tuple, meta) :: true
  defdelegate delete_object(tab, object, meta), to: :shards

  @doc """
  `delete_all_objects/1`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_delete_all)
      iex> Shards.insert(tab, {:a, 1})
      iex> Shards.delete_all_objects(tab, Shards.table_meta(tab))
      true
      iex> Shards.tab2list(tab)
      []
  """
  @spec delete_all_objects(tab, meta) :: true
  defdelegate delete_all_objects(tab, meta), to: :shards

  @doc """
  `take/2`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_take)
      iex> Shards.insert(tab, {:a, 1})
      iex> Shards.take(tab, :a, Shards.table_meta(tab))
      [{:a, 1}]
  """
  @spec take(tab, key, meta) :: [tuple]
  defdelegate take(tab, key, meta), to: :shards

  @doc """
  `update_counter/4`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_counter)
      iex> Shards.update_counter(tab, :n, {2, 1}, {:n, 0}, Shards.table_meta(tab))
      1
  """
  @spec update_counter(tab, key, update_op, tuple, meta) :: integer | [integer]
  defdelegate update_counter(tab, key, update_op, default, meta), to: :shards

  @doc """
  `update_element/4`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_element)
      iex> Shards.update_element(tab, :a, {2, :x}, {:a, 0}, Shards.table_meta(tab))
      true
      iex> Shards.lookup(tab, :a)
      [{:a, :x}]
  """
  @spec update_element(tab, key, element_spec, tuple, meta) :: boolean
  defdelegate update_element(tab, key, element_spec, default, meta), to: :shards

  @doc """
  `info/2`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_info, partitions: 2)
      iex> Shards.info(tab, :partitions, Shards.table_meta(tab))
      2
  """
  @spec info(tab, atom, meta) :: term
  defdelegate info(tab, item, meta), to: :shards

  @doc """
  `rename/2`, with the shards 1.x metadata last.

      iex> Shards.new(:doc_meta_old, named_table: true)
      iex> Shards.rename(:doc_meta_old, :doc_meta_new, Shards.table_meta(:doc_meta_old))
      :doc_meta_new
      iex> Shards.delete(:doc_meta_new)
      true
  """
  @spec rename(tab, atom, meta) :: tab
  defdelegate rename(tab, name, meta), to: :shards

  @doc """
  `tab2list/1`, with the shards 1.x metadata last.

      iex> tab = Shards.new(:meta_tab2list)
      iex> Shards.insert(tab, {:a, 1})
      iex> Shards.tab2list(tab, Shards.table_meta(tab))
      [{:a, 1}]
  """
  @spec tab2list(tab, meta) :: [tuple]
  defdelegate tab2list(tab, meta), to: :shards

  ## Key-value conveniences

  @doc """
  The value stored under `key`, or `default` if there is none.

  In a bag, the list of the key's values (`default` if it has none).
  Atomic (one `lookup/2`).

      iex> tab = Shards.new(:kv_get)
      iex> Shards.put(tab, :a, 1)
      iex> Shards.get(tab, :a)
      1
      iex> Shards.get(tab, :b)
      nil
      iex> Shards.get(tab, :b, 0)
      0
      iex> Shards.get(:no_such_table, :a)
      ** (ArgumentError) table :no_such_table does not exist
  """
  @spec get(tab, key, default) :: value | [value] | default when default: var
  def get(tab, key, default \\ nil), do: Shards.KV.get(tab, key, default)

  @doc """
  `{:ok, value}` for the value stored under `key`, or `:error`.

  In a bag, `{:ok, values}` with the key's values. Atomic.

      iex> tab = Shards.new(:kv_fetch)
      iex> Shards.put(tab, :a, nil)
      iex> Shards.fetch(tab, :a)
      {:ok, nil}
      iex> Shards.fetch(tab, :b)
      :error
  """
  @spec fetch(tab, key) :: {:ok, value | [value]} | :error
  def fetch(tab, key), do: Shards.KV.fetch(tab, key)

  @doc """
  The value stored under `key`; raises `KeyError` if there is none.

  In a bag, the key's values. Atomic.

      iex> Shards.new(:doc_fetch!, [:named_table])
      iex> Shards.put(:doc_fetch!, :a, 1)
      iex> Shards.fetch!(:doc_fetch!, :a)
      1
      iex> Shards.fetch!(:doc_fetch!, :b)
      ** (KeyError) key :b not found in table :doc_fetch!
  """
  @spec fetch!(tab, key) :: value | [value]
  def fetch!(tab, key), do: Shards.KV.fetch!(tab, key)

  @doc """
  Stores `value` under `key`, replacing the value stored there (in a bag,
  adding a value to the key). Atomic (one `insert/2`).

      iex> tab = Shards.new(:kv_put)
      iex> Shards.put(tab, :a, 1)
      :ok
      iex> Shards.put(tab, :a, 2)
      :ok
      iex> Shards.get(tab, :a)
      2
  """
  @spec put(tab, key, value) :: :ok
  def put(tab, key, value), do: Shards.KV.put(tab, key, value)

  @doc """
  Stores `value` under `key` only if the key is absent; returns whether it
  did. Atomic (one `insert_new/2`): of several processes racing to create a
  key, exactly one gets `true`.

      iex> tab = Shards.new(:kv_put_new)
      iex> Shards.put_new(tab, :a, 1)
      true
      iex> Shards.put_new(tab, :a, 2)
      false
      iex> Shards.get(tab, :a)
      1
  """
  @spec put_new(tab, key, value) :: boolean
  def put_new(tab, key, value), do: Shards.KV.put_new(tab, key, value)

  @doc """
  Stores `fun.(value)` under `key` if the key has a value, else `default`
  (`fun` is not called then); returns the value stored.

  **Not atomic**: a write by another process between the read and the
  write is lost (see "Atomicity" in the module documentation). Raises
  `ArgumentError` for bags.

      iex> tab = Shards.new(:kv_update)
      iex> Shards.update(tab, :visits, 1, &(&1 + 1))
      1
      iex> Shards.update(tab, :visits, 1, &(&1 + 1))
      2
  """
  @spec update(tab, key, value, (value -> value)) :: value
  def update(tab, key, default, fun), do: Shards.KV.update(tab, key, default, fun)

  @doc """
  Stores `fun.(value)` under `key` and returns it; raises `KeyError` if the
  key has no value.

  **Not atomic** (see `update/4`). Raises `ArgumentError` for bags.

      iex> Shards.new(:doc_update!, [:named_table])
      iex> Shards.put(:doc_update!, :name, "ada")
      iex> Shards.update!(:doc_update!, :name, &String.capitalize/1)
      "Ada"
      iex> Shards.update!(:doc_update!, :missing, &String.capitalize/1)
      ** (KeyError) key :missing not found in table :doc_update!
  """
  @spec update!(tab, key, (value -> value)) :: value
  def update!(tab, key, fun), do: Shards.KV.update!(tab, key, fun)

  @doc """
  Calls `fun` with the value under `key` (`nil` if none), like
  `Map.get_and_update/3`: `fun` returns `{get, new_value}` to store
  `new_value` and return `get`, or `:pop` to delete the key and return its
  value.

  **Not atomic** (see `update/4`). Raises `ArgumentError` for bags.

      iex> tab = Shards.new(:kv_get_and_update)
      iex> Shards.put(tab, :a, 1)
      iex> Shards.get_and_update(tab, :a, fn v -> {v, v * 10} end)
      1
      iex> Shards.get(tab, :a)
      10
      iex> Shards.get_and_update(tab, :a, fn _ -> :pop end)
      10
      iex> Shards.get(tab, :a)
      nil
  """
  @spec get_and_update(tab, key, (value | nil -> {get, value} | :pop)) :: get | value | nil
        when get: var
  def get_and_update(tab, key, fun), do: Shards.KV.get_and_update(tab, key, fun)

  @doc """
  Adds `by` to the integer stored under `key`, starting from 0 when the key
  is missing, and returns the new value. Atomic (one `update_counter/4` on
  element 2); raises `ArgumentError` for bags or when the value is not an
  integer.

      iex> Shards.new(:doc_increment, [:named_table])
      iex> Shards.increment(:doc_increment, :hits)
      1
      iex> Shards.increment(:doc_increment, :hits, 10)
      11
      iex> Shards.increment(:doc_increment, :hits, -1)
      10
      iex> Shards.put(:doc_increment, :name, "ada")
      iex> Shards.increment(:doc_increment, :name)
      ** (ArgumentError) the value under key :name in table :doc_increment is not an integer: "ada"
  """
  @spec increment(tab, key, integer) :: integer
  def increment(tab, key, by \\ 1), do: Shards.KV.increment(tab, key, by)

  @doc """
  Removes `key` and returns its value, or `default` if it had none. In a
  bag, returns the key's values. Atomic (one `take/2`). The key's objects
  are removed before their shape is checked: if one is not a `{key, value}`
  tuple, it is gone and shown in the `ArgumentError`.

      iex> tab = Shards.new(:kv_pop)
      iex> Shards.put(tab, :a, 1)
      iex> Shards.pop(tab, :a)
      1
      iex> Shards.pop(tab, :a, :gone)
      :gone
  """
  @spec pop(tab, key, default) :: value | [value] | default when default: var
  def pop(tab, key, default \\ nil), do: Shards.KV.pop(tab, key, default)

  @doc """
  All keys, each once, in the order of `tab2list/1`. Walks the whole table;
  the result is a snapshot taken key by key, not at one instant.

      iex> tab = Shards.new(:kv_keys)
      iex> Shards.put(tab, :a, 1)
      iex> Shards.put(tab, :b, 2)
      iex> Enum.sort(Shards.keys(tab))
      [:a, :b]
  """
  @spec keys(tab) :: [key]
  def keys(tab), do: Shards.KV.keys(tab)

  @doc """
  All values (in a bag, every value of every key), in the order of
  `tab2list/1`. Walks the whole table.

      iex> tab = Shards.new(:kv_values)
      iex> Shards.put(tab, :a, 1)
      iex> Shards.put(tab, :b, 2)
      iex> Enum.sort(Shards.values(tab))
      [1, 2]
  """
  @spec values(tab) :: [value]
  def values(tab), do: Shards.KV.values(tab)

  @doc """
  The number of objects in the table (`info(tab, :size)`); raises
  `ArgumentError` if the table does not exist.

      iex> tab = Shards.new(:kv_size)
      iex> Shards.size(tab)
      0
      iex> Shards.put(tab, :a, 1)
      iex> Shards.size(tab)
      1
  """
  @spec size(tab) :: non_neg_integer
  def size(tab), do: Shards.KV.size(tab)

  ## Supervision

  @doc """
  A child specification for a named table owned by a supervised process,
  so that `{Shards, name: :cache, partitions: 8}` can be a supervisor's
  child.

  The options are those of `new/2` plus the required `:name`. The table is
  always named (so that it can be found again after a restart) and is
  `:public` unless `:access` says otherwise, since the owner process itself
  never writes to it. The child's id is `{Shards, name}`; override it (or
  `:restart`, `:shutdown`) with `Supervisor.child_spec/2`.

  The owner (a `:shards_owner` process) only holds the table: processes
  that use the table can die without affecting it. When the supervisor
  stops the owner, the table is deleted before the stop returns. When the
  owner crashes, its table is deleted with it, and the restarted owner
  creates a new, **empty** table under the same name: the data does not
  survive. A `:heir` is refused, since the heir would keep the table and its
  name, and the restarted owner could not create it again.

      iex> Shards.child_spec(name: :cache, partitions: 8)
      %{id: {Shards, :cache}, start: {Shards, :start_link, [[name: :cache, partitions: 8]]}}
  """
  @spec child_spec([Shards.Options.option() | {:name, atom}]) :: Supervisor.child_spec()
  def child_spec(options) do
    {name, _} = Shards.Options.supervised(options)
    %{id: {Shards, name}, start: {Shards, :start_link, [options]}}
  end

  @doc """
  Starts a process that creates the table described by `options` (see
  `child_spec/1`) and owns it, linked to the caller.

      iex> {:ok, owner} = Shards.start_link(name: :doc_owned, partitions: 2)
      iex> Shards.info(:doc_owned, :owner) == owner
      true
      iex> Shards.put(:doc_owned, :a, 1)
      :ok
      iex> GenServer.stop(owner)
      iex> Shards.whereis(:doc_owned)
      :undefined
  """
  @spec start_link([Shards.Options.option() | {:name, atom}]) :: {:ok, pid} | {:error, term}
  def start_link(options) do
    {name, ets_options} = Shards.Options.supervised(options)

    case :shards_owner.start_link(name, ets_options) do
      {:ok, pid, _tab} -> {:ok, pid}
      {:error, _} = error -> error
    end
  end
end
