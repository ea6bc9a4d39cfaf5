// The key form, as GraphiQL's: the key is kept in this browser and sent with every request.
import { type FormEvent, useEffect, useRef, useState } from "react";

export function KeyPrompt(props: { error: string | null; note: string | null; canKeep: boolean; onKey: (key: string) => void; onKeep: () => void }) {
  const [value, setValue] = useState("");
  const input = useRef<HTMLInputElement>(null);
  useEffect(() => input.current?.focus(), []);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    if (value.trim()) props.onKey(value.trim());
  };
  return (
    <main className="key-prompt">
      <form aria-labelledby="key-title" onSubmit={submit}>
        <h1 id="key-title">usageql needs an API key</h1>
        <p>
          Paste the key <code>usageql serve --demo</code> printed, or create one with <code>usageql keys create --role reader</code>.
        </p>
        {props.error && <p role="alert" className="key-error">{props.error}</p>}
        {props.note && <p role="status" className="key-note">{props.note}</p>}
        <label htmlFor="key-input">API key</label>
        <input id="key-input" ref={input} type="password" autoComplete="off" spellCheck={false} placeholder="uq_..." required value={value} onChange={(e) => setValue(e.target.value)} />
        <p>
          It is kept in this browser's local storage and sent as <code>Authorization: Bearer …</code> with every request.
        </p>
        <button type="submit" className="primary">
          Open the dashboard
        </button>
        {props.canKeep && (
          <button type="button" onClick={props.onKeep}>
            Keep the current key
          </button>
        )}
      </form>
    </main>
  );
}
