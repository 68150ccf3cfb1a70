defmodule MixApp do
  @moduledoc """
  Minimal application using shards as a path dependency.
  """

  @doc "Creates a table, inserts a value, reads it back and returns it."
  def run do
    tab = :shards.new(:mix_app_table, [:set])
    true = :shards.insert(tab, {:greeting, "hello from shards"})
    [{:greeting, value}] = :shards.lookup(tab, :greeting)
    true = :shards.delete(tab)
    value
  end
end
