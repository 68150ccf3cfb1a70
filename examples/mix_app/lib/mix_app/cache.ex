defmodule MixApp.Cache do
  @moduledoc """
  A small cache over the supervised shards table started by
  `MixApp.Application`.
  """

  @table :mix_app_cache

  @doc "The name of the cache table."
  @spec table() :: atom
  def table, do: @table

  @doc """
  The cached value for `key`, computed with `fun` and stored on a miss.
  Counts hits and misses.

      iex> MixApp.Cache.fetch(:doc_answer, fn -> 42 end)
      42
      iex> MixApp.Cache.fetch(:doc_answer, fn -> raise "not called on a hit" end)
      42
  """
  @spec fetch(term, (() -> term)) :: term
  def fetch(key, fun) do
    case Shards.fetch(@table, {:value, key}) do
      {:ok, value} ->
        Shards.increment(@table, {:stat, :hits})
        value

      :error ->
        Shards.increment(@table, {:stat, :misses})
        value = fun.()
        # Of two processes missing at once, the first to store wins.
        if Shards.put_new(@table, {:value, key}, value), do: value, else: get(key)
    end
  end

  @doc """
  Stores `value` under `key`.

      iex> MixApp.Cache.put(:doc_put, "v")
      :ok
      iex> MixApp.Cache.get(:doc_put)
      "v"
  """
  @spec put(term, term) :: :ok
  def put(key, value), do: Shards.put(@table, {:value, key}, value)

  @doc """
  The value stored under `key`, or `nil`.

      iex> MixApp.Cache.get(:doc_never_stored)
      nil
  """
  @spec get(term) :: term
  def get(key), do: Shards.get(@table, {:value, key})

  @doc """
  Hit and miss counts since the table was created.

      iex> %{hits: hits, misses: misses} = MixApp.Cache.stats()
      iex> is_integer(hits) and is_integer(misses)
      true
  """
  @spec stats() :: %{hits: non_neg_integer, misses: non_neg_integer}
  def stats do
    %{
      hits: Shards.get(@table, {:stat, :hits}, 0),
      misses: Shards.get(@table, {:stat, :misses}, 0)
    }
  end
end
