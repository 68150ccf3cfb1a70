defmodule Shards.Options do
  @moduledoc """
  Translates the options of `Shards.new/2` into the ets-style list that
  `:shards.new/2` takes.

  Both styles are accepted, and may be mixed in one list:

    * keywords: `type: :ordered_set`, `access: :public`, `named_table: true`,
      `keypos: 2`, `heir: {pid, data}` (or `heir: pid`, `heir: :none`),
      `compressed: true`, `read_concurrency: true`,
      `write_concurrency: true | false | :auto`,
      `decentralized_counters: true`, and the partitioning options
      `partitions: 8` (or `n_shards: 8`), `keyslot_fun: fun/2`,
      `parallel: true`, `parallel_timeout: 5000`;
    * ets-style items: `:set`, `:ordered_set`, `:bag`, `:duplicate_bag`,
      `:public`, `:protected`, `:private`, `:named_table`, `:compressed`,
      `{:heir, pid, data}`, and the tuples above (`{:keypos, 2}` is both).

  Unknown options and bad values raise `ArgumentError` naming the option.
  """

  @types [:set, :ordered_set, :bag, :duplicate_bag]
  @access [:public, :protected, :private]
  @flags @types ++ @access ++ [:named_table, :compressed]
  @booleans [:read_concurrency, :decentralized_counters, :parallel]
  @positive [:keypos, :partitions, :n_shards]

  @typedoc "A table type."
  @type type :: :set | :ordered_set | :bag | :duplicate_bag

  @typedoc "An option in keyword or ets style (see the module documentation)."
  @type option ::
          type
          | :public
          | :protected
          | :private
          | :named_table
          | :compressed
          | {:type, type}
          | {:access, :public | :protected | :private}
          | {:named_table, boolean}
          | {:compressed, boolean}
          | {:keypos, pos_integer}
          | {:heir, pid | {pid, term} | :none}
          | {:heir, pid, term}
          | {:read_concurrency, boolean}
          | {:write_concurrency, boolean | :auto}
          | {:decentralized_counters, boolean}
          | {:partitions, pos_integer}
          | {:n_shards, pos_integer}
          | {:keyslot_fun, (term, pos_integer -> non_neg_integer)}
          | {:parallel, boolean}
          | {:parallel_timeout, timeout}

  @doc """
  Returns the ets-style option list for `options`.

  ## Examples

      iex> Shards.Options.to_ets(type: :ordered_set, access: :public, partitions: 8)
      [:ordered_set, :public, {:partitions, 8}]

      iex> Shards.Options.to_ets([:bag, named_table: true, keypos: 2])
      [:bag, :named_table, {:keypos, 2}]

      iex> Shards.Options.to_ets(named_table: false, compressed: false)
      []

      iex> Shards.Options.to_ets(type: :hash)
      ** (ArgumentError) invalid value for the :type option: :hash, expected one of :set, :ordered_set, :bag, :duplicate_bag

      iex> Shards.Options.to_ets(size: 10)
      ** (ArgumentError) unknown option for a shards table: {:size, 10}
  """
  @spec to_ets([option]) :: [:shards.option()]
  def to_ets(options) when is_list(options) do
    Enum.flat_map(options, &translate/1)
  end

  def to_ets(options) do
    raise ArgumentError, "expected a list of table options, got: #{inspect(options)}"
  end

  @doc """
  Splits the options of a supervised table (`Shards.child_spec/1`) into
  the table name and the ets-style list for `:shards.new/2`.

  `:name` (an atom) is required. The table is always a `:named_table`, so
  that it can be found again after a restart. Its access defaults to
  `:public`, since the owner process never writes to it itself. A `:heir`
  is refused: after a crash of the owner, the heir would keep the table and
  its name, and the restarted owner could not create it again.

  ## Examples

      iex> Shards.Options.supervised(name: :cache, partitions: 4)
      {:cache, [:named_table, :public, {:partitions, 4}]}

      iex> Shards.Options.supervised(name: :cache, access: :protected)
      {:cache, [:named_table, :protected]}

      iex> Shards.Options.supervised(partitions: 4)
      ** (ArgumentError) a supervised table needs a :name option (an atom), got: [partitions: 4]
  """
  @spec supervised([option | {:name, atom}]) :: {atom, [:shards.option()]}
  def supervised(options) when is_list(options) do
    case Enum.split_with(options, &match?({:name, _}, &1)) do
      {[name: name], rest} when is_atom(name) ->
        ets = to_ets(rest)

        if Enum.any?(ets, &match?({:heir, _, _}, &1)) do
          raise ArgumentError,
                "a supervised table cannot have a :heir: the heir would keep the table " <>
                  "when the owner crashes, and the restarted owner could not create it again"
        end

        named = if :named_table in ets, do: [], else: [:named_table]
        access = if Enum.any?(ets, &(&1 in @access)), do: [], else: [:public]
        {name, named ++ access ++ ets}

      _ ->
        raise ArgumentError,
              "a supervised table needs a :name option (an atom), got: #{inspect(options)}"
    end
  end

  def supervised(options) do
    raise ArgumentError, "expected a list of table options, got: #{inspect(options)}"
  end

  defp translate(flag) when flag in @flags, do: [flag]
  defp translate({:type, type}) when type in @types, do: [type]
  defp translate({:type, other}), do: invalid(:type, other, one_of(@types))
  defp translate({:access, access}) when access in @access, do: [access]
  defp translate({:access, other}), do: invalid(:access, other, one_of(@access))
  defp translate({:named_table, bool}) when is_boolean(bool), do: flag(bool, :named_table)
  defp translate({:compressed, bool}) when is_boolean(bool), do: flag(bool, :compressed)
  defp translate({:heir, :none}), do: [{:heir, :none}]
  defp translate({:heir, pid}) when is_pid(pid), do: [{:heir, pid, nil}]
  defp translate({:heir, {pid, data}}) when is_pid(pid), do: [{:heir, pid, data}]
  defp translate({:heir, pid, _data} = heir) when is_pid(pid), do: [heir]
  defp translate({:heir, other}), do: invalid(:heir, other, "a pid, {pid, data} or :none")
  defp translate({key, n}) when key in @positive and is_integer(n) and n > 0, do: [{key, n}]
  defp translate({key, bool}) when key in @booleans and is_boolean(bool), do: [{key, bool}]

  defp translate({:write_concurrency, w}) when is_boolean(w) or w == :auto,
    do: [{:write_concurrency, w}]

  defp translate({:keyslot_fun, fun}) when is_function(fun, 2), do: [{:keyslot_fun, fun}]

  defp translate({:parallel_timeout, t}) when t == :infinity or (is_integer(t) and t >= 0),
    do: [{:parallel_timeout, t}]

  defp translate({key, other}) when key in @positive,
    do: invalid(key, other, "a positive integer")

  defp translate({key, other}) when key in @booleans, do: invalid(key, other, "a boolean")

  defp translate({key, other}) when key in [:named_table, :compressed],
    do: invalid(key, other, "a boolean")

  defp translate({:write_concurrency, other}),
    do: invalid(:write_concurrency, other, "a boolean or :auto")

  defp translate({:keyslot_fun, other}),
    do: invalid(:keyslot_fun, other, "a function of arity 2")

  defp translate({:parallel_timeout, other}),
    do: invalid(:parallel_timeout, other, "a non-negative integer or :infinity")

  defp translate(other) do
    raise ArgumentError, "unknown option for a shards table: #{inspect(other)}"
  end

  defp flag(true, flag), do: [flag]
  defp flag(false, _flag), do: []

  defp one_of(values), do: "one of " <> Enum.map_join(values, ", ", &inspect/1)

  defp invalid(key, value, expected) do
    raise ArgumentError,
          "invalid value for the #{inspect(key)} option: #{inspect(value)}, expected #{expected}"
  end
end
