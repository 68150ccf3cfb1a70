defmodule Shards.DeepCases do
  @moduledoc false
  # Deep terms through the functions of the Elixir module `Shards`, run in a
  # child node by `Shards.DeepTest` (compiled into the test build so that the
  # child can load it). Each function gives the names of the calls whose
  # outcome differs from the expected one: a million-level term is never
  # printed.

  @doc "A term of `shape`, `depth` levels deep, with `leaf` at the bottom."
  def deep(:list, depth, leaf), do: nest(depth, leaf, &[&1])
  def deep(:tuple, depth, leaf), do: nest(depth, leaf, &{&1, 7})
  def deep(:map_key, depth, leaf), do: nest(depth, leaf, &%{&1 => 1})

  def deep(:mixed, depth, leaf) do
    wraps = {&[&1], &{&1}, &%{&1 => 1}, &%{k: &1}, &[:a, &1 | :b]}

    Enum.reduce(1..depth, leaf, fn i, x -> elem(wraps, rem(i, tuple_size(wraps))).(x) end)
  end

  defp nest(depth, leaf, wrap), do: Enum.reduce(1..depth, leaf, fn _, x -> wrap.(x) end)

  @doc "The calls of `Shards` with deep values and keys of `shape` and `depth`."
  def run(shape, depth) do
    v = deep(shape, depth, :v1)
    w = deep(shape, depth, 2.5)
    k = deep(shape, depth, :key)
    tab = Shards.new(:deep, [:public])
    ets = :ets.new(:deep, [:public])

    checks = [
      put: fn -> {Shards.put(tab, k, v), :ets.insert(ets, {k, v}) && :ok} end,
      get: fn -> {Shards.get(tab, k), v} end,
      fetch: fn -> {Shards.fetch(tab, k), {:ok, v}} end,
      fetch!: fn -> {Shards.fetch!(tab, k), v} end,
      put_new: fn -> {Shards.put_new(tab, k, w), :ets.insert_new(ets, {k, w})} end,
      update: fn -> {Shards.update(tab, k, w, fn _ -> w end), w} end,
      get_and_update: fn -> {Shards.get_and_update(tab, k, fn x -> {x, v} end), w} end,
      keys: fn -> {Shards.keys(tab), [k]} end,
      values: fn -> {Shards.values(tab), [v]} end,
      size: fn -> {Shards.size(tab), 1} end,
      lookup: fn -> {Shards.lookup(tab, k), :ets.lookup(ets, k)} end,
      member: fn -> {Shards.member(tab, k), :ets.member(ets, k)} end,
      select: fn ->
        spec = [{{k, :"$1"}, [{:"=:=", :"$1", {:const, v}}], [:"$_"]}]
        {Shards.select(tab, spec), :ets.select(ets, spec)}
      end,
      match_object: fn -> {Shards.match_object(tab, {k, v}), :ets.match_object(ets, {k, v})} end,
      stream: fn -> {Enum.to_list(Shards.stream(tab)), :ets.tab2list(ets)} end,
      tab2list: fn -> {Shards.tab2list(tab), :ets.tab2list(ets)} end,
      pop: fn -> {Shards.pop(tab, k), v} end,
      gone: fn -> {Shards.get(tab, k, :none), :none} end
    ]

    differ =
      for {name, check} <- checks,
          {got, want} = check.(),
          got !== want,
          do: name

    Shards.delete(tab)
    :ets.delete(ets)
    differ
  end
end
