defmodule Shards.KV do
  @moduledoc false
  # The key-value conveniences documented in `Shards`: objects are
  # `{key, value}` tuples, and each function is a thin layer over one or two
  # ETS-compatible calls.

  alias Shards.Checks

  def get(tab, key, default) do
    case lookup(tab, key) do
      {:ok, value} -> value
      :error -> default
    end
  end

  def fetch(tab, key), do: lookup(tab, key)

  def fetch!(tab, key) do
    case lookup(tab, key) do
      {:ok, value} -> value
      :error -> raise key_error(tab, key)
    end
  end

  def put(tab, key, value) do
    Checks.keypos_one!(tab)
    Checks.call(tab, :write, fn -> :shards.insert(tab, {key, value}) end)
    :ok
  end

  def put_new(tab, key, value) do
    Checks.keypos_one!(tab)
    Checks.call(tab, :write, fn -> :shards.insert_new(tab, {key, value}) end)
  end

  def update(tab, key, default, fun) when is_function(fun, 1) do
    new =
      case lookup_single(tab, key, "Shards.update/4") do
        {:ok, value} -> fun.(value)
        :error -> default
      end

    write(tab, key, new)
  end

  def update(_tab, _key, _default, fun), do: raise(ArgumentError, not_a_fun(fun))

  def update!(tab, key, fun) when is_function(fun, 1) do
    case lookup_single(tab, key, "Shards.update!/3") do
      {:ok, value} -> write(tab, key, fun.(value))
      :error -> raise key_error(tab, key)
    end
  end

  def update!(_tab, _key, fun), do: raise(ArgumentError, not_a_fun(fun))

  def get_and_update(tab, key, fun) when is_function(fun, 1) do
    current =
      case lookup_single(tab, key, "Shards.get_and_update/3") do
        {:ok, value} -> value
        :error -> nil
      end

    case fun.(current) do
      {get, new} ->
        write(tab, key, new)
        get

      :pop ->
        Checks.call(tab, :write, fn -> :shards.delete(tab, key) end)
        current

      other ->
        raise ArgumentError,
              "the function given to Shards.get_and_update/3 must return " <>
                "{get, new_value} or :pop, got: #{inspect(other)}"
    end
  end

  def get_and_update(_tab, _key, fun), do: raise(ArgumentError, not_a_fun(fun))

  def increment(tab, key, by) when is_integer(by) do
    Checks.tab!(tab)

    Checks.call(tab, {:counter, key}, fn ->
      :shards.update_counter(tab, key, {2, by}, {key, 0})
    end)
  end

  def increment(_tab, _key, by) do
    raise ArgumentError, "expected an integer increment, got: #{inspect(by)}"
  end

  def pop(tab, key, default) do
    type = Checks.type!(tab)
    Checks.keypos_one!(tab)

    case {Checks.kind(type), Checks.call(tab, :write, fn -> :shards.take(tab, key) end)} do
      {_, []} -> default
      {:single, [object]} -> Checks.value!(tab, key, object)
      {:multi, objects} -> Enum.map(objects, &Checks.value!(tab, key, &1))
    end
  end

  def keys(tab) do
    type = Checks.type!(tab)
    keypos = :shards.info(tab, :keypos)
    keys = Enum.map(all(tab), &elem(&1, keypos - 1))

    case Checks.kind(type) do
      :single -> keys
      :multi -> Enum.uniq(keys)
    end
  end

  def values(tab) do
    Checks.keypos_one!(tab)
    Enum.map(all(tab), &Checks.value!(tab, elem(&1, 0), &1))
  end

  def size(tab), do: Checks.info!(tab, :size)

  # {:ok, value} | :error; the value is the list of values in a bag.
  defp lookup(tab, key, type \\ nil) do
    type = type || Checks.type!(tab)

    case {Checks.kind(type), Checks.call(tab, :read, fn -> :shards.lookup(tab, key) end)} do
      {_, []} -> :error
      {:single, [object]} -> {:ok, Checks.value!(tab, key, object)}
      {:multi, objects} -> {:ok, Enum.map(objects, &Checks.value!(tab, key, &1))}
    end
  end

  # As lookup/2, for the read-modify-write functions, which need one value
  # per key and a table where {key, value} is stored as such.
  defp lookup_single(tab, key, what) do
    type = Checks.type!(tab)
    Checks.single!(tab, type, what)
    Checks.keypos_one!(tab)
    lookup(tab, key, type)
  end

  defp write(tab, key, value) do
    Checks.call(tab, :write, fn -> :shards.insert(tab, {key, value}) end)
    value
  end

  defp all(tab), do: Checks.call(tab, :read, fn -> :shards.tab2list(tab) end)

  defp key_error(tab, key) do
    KeyError.exception(
      key: key,
      term: tab,
      message: "key #{inspect(key)} not found in #{Checks.describe(tab)}"
    )
  end

  defp not_a_fun(fun), do: "expected a function of arity 1, got: #{inspect(fun)}"
end
