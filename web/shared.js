// What the chat page and the Memory page share: building elements (text
// content only, never HTML), and calling the API as the signed-in user
// (every change carries the sign-in's CSRF token).

// Who is signed in (GET /api/auth/me), once `whoAmI` has asked.
export const viewer = { me: null };

export function csrfHeaders() {
  return viewer.me?.csrf_token ? { "x-csrf-token": viewer.me.csrf_token } : {};
}

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children) if (child) node.append(child);
  return node;
}

// A JSON call; a refusal throws an Error with the server's message and status.
export async function api(path, options = {}) {
  const response = await fetch(path, {
    ...options,
    headers: { "content-type": "application/json", ...csrfHeaders(), ...(options.headers || {}) },
  });
  if (!response.ok) {
    let message = `${response.status} ${response.statusText}`;
    try {
      message = (await response.json()).error?.message || message;
    } catch {}
    const error = new Error(message);
    error.status = response.status;
    throw error;
  }
  return response.status === 204 ? null : response.json();
}

// Asks who is signed in; sends a stranger to the sign-in page.
export async function whoAmI() {
  try {
    viewer.me = await api("/api/auth/me");
    return viewer.me;
  } catch (error) {
    if (error.status === 401) location.href = "/login";
    throw error;
  }
}
