defmodule Shards.Checks do
  @moduledoc false
  # Argument checks for the key-value conveniences of `Shards`, and the
  # `ArgumentError` messages that say what was wrong.
  #
  # The conveniences check up front only what the ETS-compatible call would
  # not catch itself (the table type, and the key position where a write
  # would otherwise store a wrong object). Anything else is left to the
  # call; when it raises badarg, `call/4` looks at the table to explain why.

  @typedoc "How many values a key holds: one (set, ordered_set) or several (bags)."
  @type kind :: :single | :multi

  @doc "The kind of a table type."
  @spec kind(atom) :: kind
  def kind(type) when type in [:set, :ordered_set], do: :single
  def kind(type) when type in [:bag, :duplicate_bag], do: :multi

  @doc "Raises unless `tab` can name a table (an atom or a reference)."
  @spec tab!(term) :: :ok
  def tab!(tab) when is_atom(tab) or is_reference(tab), do: :ok

  def tab!(tab) do
    raise ArgumentError,
          "expected a table name (an atom) or a table reference, got: #{inspect(tab)}"
  end

  @doc "The table's type; raises if it is not a table."
  @spec type!(term) :: atom
  def type!(tab), do: info!(tab, :type)

  @doc "Raises unless the table's objects have their key first."
  @spec keypos_one!(term) :: :ok
  def keypos_one!(tab) do
    case info!(tab, :keypos) do
      1 -> :ok
      keypos -> raise ArgumentError, keypos_message(tab, keypos)
    end
  end

  @doc """
  Raises unless `type` holds one value per key; `what` names the function
  that needs it.
  """
  @spec single!(term, atom, String.t()) :: :ok
  def single!(tab, type, what) do
    case kind(type) do
      :single ->
        :ok

      :multi ->
        raise ArgumentError,
              "#{what} needs a set or ordered_set table, #{describe(tab)} is a " <>
                "#{type} (a key may hold several values)"
    end
  end

  @doc "The value of `object`, found under `key`; raises unless it is `{key, value}`."
  @spec value!(term, term, tuple) :: term
  def value!(_tab, key, {k, value}) when k == key, do: value

  def value!(tab, key, object) do
    keypos_one!(tab)

    raise ArgumentError,
          "expected a {key, value} tuple under key #{inspect(key)} in #{describe(tab)}, " <>
            "got: #{inspect(object)}"
  end

  @doc """
  Runs `fun`, a call to `:shards` on `tab` that reads (`:read`) or writes
  (`:write`) it. If it raises `ArgumentError`, raises one that says why,
  or re-raises the original when no reason is found. For `{:counter, key}`
  (an update_counter of element 2 under `key`), also explains bad keys,
  types and values.
  """
  @spec call(term, :read | :write | {:counter, term}, (() -> result)) :: result when result: var
  def call(tab, access, fun) do
    fun.()
  rescue
    error in ArgumentError ->
      explain!(tab, access)
      reraise error, __STACKTRACE__
  end

  @doc "A table as it appears in messages: `table :cache`."
  @spec describe(term) :: String.t()
  def describe(tab), do: "table #{inspect(tab)}"

  # Raises an explained ArgumentError if one of the causes holds, else
  # returns (and the caller re-raises the original error).
  defp explain!(tab, access) do
    tab!(tab)
    owner = info!(tab, :owner)

    if owner != self() do
      case {info!(tab, :protection), access} do
        {:private, _} ->
          raise ArgumentError,
                "#{describe(tab)} is private: only its owner #{inspect(owner)} can use it"

        {:protected, write} when write != :read ->
          raise ArgumentError,
                "#{describe(tab)} is protected: only its owner #{inspect(owner)} can write to it"

        _ ->
          :ok
      end
    end

    with {:counter, key} <- access do
      keypos_one!(tab)
      single!(tab, info!(tab, :type), "Shards.increment/3")

      case :shards.lookup(tab, key) do
        [{_, value}] when not is_integer(value) ->
          raise ArgumentError,
                "the value under key #{inspect(key)} in #{describe(tab)} is not an integer: " <>
                  inspect(value)

        _ ->
          :ok
      end
    end

    :ok
  end

  defp keypos_message(tab, keypos) do
    "expected a table of {key, value} tuples with the key first (keypos 1), " <>
      "#{describe(tab)} has keypos #{keypos}"
  end

  @doc "`:shards.info(tab, item)`; raises if `tab` is not a table."
  @spec info!(term, atom) :: term
  def info!(tab, item) do
    tab!(tab)

    case :shards.info(tab, item) do
      :undefined -> raise ArgumentError, "#{describe(tab)} does not exist"
      value -> value
    end
  end
end
