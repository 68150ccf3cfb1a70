defmodule Shards do
  @moduledoc """
  Elixir interface to `:shards`: ETS-compatible partitioned tables
  implemented as a Rust NIF.

  Every function delegates to the Erlang module `:shards`, whose API mirrors
  `:ets`; see the `:ets` documentation for the semantics of each call.

  ## Example

      iex> tab = Shards.new(:shards_doctest, [:set])
      iex> Shards.insert(tab, {:key, :value})
      true
      iex> Shards.lookup(tab, :key)
      [{:key, :value}]
      iex> Shards.delete(tab)
      true
  """

  @doc "Creates a new table, like `:ets.new/2`."
  defdelegate new(name, options), to: :shards

  @doc "Inserts an object or a list of objects, like `:ets.insert/2`."
  defdelegate insert(tab, objects), to: :shards

  @doc "Inserts unless a key already exists, like `:ets.insert_new/2`."
  defdelegate insert_new(tab, objects), to: :shards

  @doc "Returns the objects stored under `key`, like `:ets.lookup/2`."
  defdelegate lookup(tab, key), to: :shards

  @doc "Returns element `pos` of the objects under `key`, like `:ets.lookup_element/3`."
  defdelegate lookup_element(tab, key, pos), to: :shards

  @doc "Tells whether `key` is present, like `:ets.member/2`."
  defdelegate member(tab, key), to: :shards

  @doc "Deletes the whole table, like `:ets.delete/1`."
  defdelegate delete(tab), to: :shards

  @doc "Deletes the objects stored under `key`, like `:ets.delete/2`."
  defdelegate delete(tab, key), to: :shards

  @doc "Deletes exactly `object`, like `:ets.delete_object/2`."
  defdelegate delete_object(tab, object), to: :shards

  @doc "Deletes every object in the table, like `:ets.delete_all_objects/1`."
  defdelegate delete_all_objects(tab), to: :shards

  @doc "Returns and removes the objects under `key`, like `:ets.take/2`."
  defdelegate take(tab, key), to: :shards

  @doc "Updates a counter element, like `:ets.update_counter/3`."
  defdelegate update_counter(tab, key, update_op), to: :shards

  @doc "Updates a counter element, inserting `default` if absent, like `:ets.update_counter/4`."
  defdelegate update_counter(tab, key, update_op, default), to: :shards

  @doc "Replaces elements of the object under `key`, like `:ets.update_element/3`."
  defdelegate update_element(tab, key, element_spec), to: :shards

  @doc "Returns information about the table, like `:ets.info/1`."
  defdelegate info(tab), to: :shards

  @doc "Returns one item of table information, like `:ets.info/2`."
  defdelegate info(tab, item), to: :shards

  @doc "Returns all objects in the table as a list, like `:ets.tab2list/1`."
  defdelegate tab2list(tab), to: :shards

  @doc "Returns all tables, like `:ets.all/0`."
  defdelegate all(), to: :shards

  @doc "Returns the table identifier of a named table, like `:ets.whereis/1`."
  defdelegate whereis(name), to: :shards

  @doc "Renames a named table, like `:ets.rename/2`."
  defdelegate rename(tab, name), to: :shards

  @doc "Transfers ownership of the table to `pid`, like `:ets.give_away/3`."
  defdelegate give_away(tab, pid, gift_data), to: :shards

  @doc "Sets table options (`heir`), like `:ets.setopts/2`."
  defdelegate setopts(tab, opts), to: :shards
end
