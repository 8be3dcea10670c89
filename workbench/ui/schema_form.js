// The browser side of workbench/ui/schema_form.py: draws the fields Python describes (model.spec) and
// sends each committed edit back as {field, value}: a text as typed, a checkbox's state, a choice's
// index, a list's items. Python reads the value, keeps it and answers with model.errors. A file
// field's picker (model.uploads) sends the picked file as {field, upload: {name, type, data}} (data in
// base64); Python stores it and answers with model.files (the field's new text, a note) or an error.

let counter = 0

function make(tag, className, text) {
  const node = document.createElement(tag)
  if (className) node.className = className
  if (text !== undefined) node.textContent = text
  return node
}

function helpIcon(help) {
  const icon = make("span", "wb-help", "?")
  icon.tabIndex = 0
  icon.dataset.tip = help
  icon.setAttribute("role", "img")
  icon.setAttribute("aria-label", help)
  return icon
}

function fitRows(area, least) {
  area.rows = Math.max(least, Math.min(16, area.value.split("\n").length))
}

function textControl(f, id) {
  let input
  if (f.kind === "longtext" || f.kind === "json") {
    input = make("textarea", f.kind === "json" ? "wb-json" : "")
    input.value = f.text || ""
    fitRows(input, f.rows || 3)
    input.addEventListener("input", () => fitRows(input, f.rows || 3))
    input.spellcheck = f.kind !== "json"
  } else {
    input = make("input")
    input.type = f.kind === "secret" ? "password" : f.kind === "int" || f.kind === "float" ? "number" : "text"
    if (f.kind === "secret") input.autocomplete = "new-password"
    if (input.type === "number") {
      input.step = f.kind === "int" ? "1" : "any"
      if (f.min !== null && f.min !== undefined) input.min = String(f.min)
      if (f.max !== null && f.max !== undefined) input.max = String(f.max)
    }
    input.value = f.text || ""
  }
  if (id) input.id = id
  if (f.placeholder) input.placeholder = f.placeholder
  return input
}

function readText(input) {
  // A number input holding letters reports "": say so, Python names the problem.
  return input.validity && input.validity.badInput ? "not a number" : input.value
}

function selectControl(labels, selected, id) {
  const select = make("select")
  if (id) select.id = id
  labels.forEach((label, index) => {
    const option = make("option", "", label)
    option.value = String(index)
    select.append(option)
  })
  select.value = String(selected || 0)
  return select
}

function itemControl(f, item) {
  if (f.item_kind === "select") return selectControl(f.item_options, item)
  if (f.item_kind === "boolean") {
    const box = make("input")
    box.type = "checkbox"
    box.checked = item === true
    return box
  }
  const kind = f.item_kind === "integer" ? "int" : f.item_kind === "number" ? "float" : "text"
  return textControl({ kind, text: item === null || item === undefined ? "" : String(item) })
}

function itemValue(f, control) {
  if (f.item_kind === "select") return Number(control.value)
  if (f.item_kind === "boolean") return control.checked
  return readText(control)
}

function listControl(f, send, label) {
  const wrap = make("div", "wb-list")
  const rows = make("div", "wb-rows")
  const collect = () => send([...rows.children].map((row) => itemValue(f, row.firstChild)))
  const addRow = (item, focus) => {
    const row = make("div", "wb-row")
    const control = itemControl(f, item)
    control.setAttribute("aria-label", `${label} item`)
    control.addEventListener("change", collect)
    const remove = make("button", "wb-remove", "✕")
    remove.type = "button"
    remove.title = "Remove this item"
    remove.setAttribute("aria-label", `Remove ${label} item`)
    remove.addEventListener("click", () => {
      row.remove()
      collect()
    })
    row.append(control, remove)
    rows.append(row)
    if (focus) control.focus()
  }
  for (const item of f.items || []) addRow(item, false)
  const add = make("button", "wb-add", "+ Add item")
  add.type = "button"
  add.setAttribute("aria-label", `Add ${label} item`)
  add.addEventListener("click", () => addRow(null, true))
  wrap.append(rows, add)
  return wrap
}

function fileControl(f, id, send, model) {
  const wrap = make("div", "wb-file")
  const input = textControl({ ...f, kind: "text" }, id)
  input.addEventListener("change", () => send(input.value))
  wrap.append(input)
  const note = make("div", "wb-file-note")
  note.setAttribute("aria-live", "polite")
  if (model.uploads) {
    const picker = make("input", "wb-file-pick")
    picker.type = "file"
    picker.setAttribute("aria-label", `Upload a file for ${f.label}`)
    picker.addEventListener("change", () => {
      const file = picker.files && picker.files[0]
      if (!file) return
      if (file.size > model.max_upload) {
        note.textContent = `${file.name} is larger than ${model.max_upload.toLocaleString()} bytes: upload it through the API or the Python client and paste its workspace:// reference.`
        picker.value = ""
        return
      }
      note.textContent = `Reading ${file.name}…`
      const reader = new FileReader()
      reader.onload = () => {
        const url = String(reader.result)
        model.send_msg({ field: f.name, upload: { name: file.name, type: file.type, data: url.slice(url.indexOf(",") + 1) } })
        picker.value = ""
      }
      reader.onerror = () => {
        note.textContent = `${file.name} could not be read.`
      }
      reader.readAsDataURL(file)
    })
    wrap.append(picker)
  }
  wrap.append(note)
  return {
    el: wrap,
    show(state) {
      if (!state) return
      if (typeof state.text === "string" && state.text) input.value = state.text
      note.textContent = state.note || ""
    },
  }
}

function field(f, uid, index, model) {
  const id = `wb-sf-${uid}-${index}`
  const box = make("div", `wb-field wb-kind-${f.kind}`)
  box.dataset.field = f.name
  const head = make("div", "wb-head")
  const send = (value) => model.send_msg({ field: f.name, value })
  const star = () => {
    const mark = make("span", "wb-req", "*")
    mark.title = "Required"
    mark.setAttribute("aria-hidden", "true")
    return mark
  }
  let body = null
  let file = null
  if (f.kind === "bool") {
    const label = make("label", "wb-check")
    const check = make("input")
    check.type = "checkbox"
    check.id = id
    check.checked = !!f.checked
    check.addEventListener("change", () => send(check.checked))
    label.append(check, document.createTextNode(" " + f.label))
    head.append(label)
  } else {
    const label = make("label", "wb-label", f.label)
    head.append(label)
    if (f.kind === "list") {
      body = listControl(f, send, f.label)
    } else {
      if (f.kind === "select" || f.kind === "credentials") {
        body = selectControl(f.options, f.selected, id)
        body.addEventListener("change", () => send(Number(body.value)))
      } else if (f.kind === "file") {
        file = fileControl(f, id, send, model)
        body = file.el
      } else {
        body = textControl(f, id)
        body.addEventListener("change", () => send(readText(body)))
      }
      label.htmlFor = id
    }
  }
  if (f.required) head.append(star())
  if (f.help) head.append(helpIcon(f.help))
  const note = make("span", "wb-link-note", "from a link")
  note.hidden = true
  head.append(note, make("code", "wb-pin", f.name))
  box.append(head)
  if (body) box.append(body)
  if (f.required) for (const control of box.querySelectorAll("input, select, textarea")) control.setAttribute("aria-required", "true")
  const error = make("div", "wb-error")
  error.setAttribute("role", "alert")
  error.hidden = true
  box.append(error)
  return {
    el: box,
    file,
    update(message, linked) {
      box.classList.toggle("wb-field-error", !!message)
      error.textContent = message || ""
      error.hidden = !message
      box.classList.toggle("wb-field-linked", linked)
      note.hidden = !linked
      for (const control of box.querySelectorAll("input, select, textarea, button")) control.disabled = linked
    },
  }
}

export function render({ model, el }) {
  const uid = ++counter
  const root = make("form", "wb-sf")
  root.addEventListener("submit", (event) => event.preventDefault())
  if (model.heading) root.append(make("h3", "wb-sf-title", model.heading))
  const notes = make("div", "wb-form-error")
  notes.setAttribute("role", "alert")
  root.append(notes)
  if (model.spec.length === 0) root.append(make("p", "wb-empty", "Nothing to fill in."))
  const fields = new Map()
  let more = null
  model.spec.forEach((f, index) => {
    const built = field(f, uid, index, model)
    fields.set(f.name, built)
    if (!f.advanced) {
      root.append(built.el)
      return
    }
    if (more === null) {
      more = make("details", "wb-more")
      more.append(make("summary", "", "More"))
    }
    more.append(built.el)
  })
  if (more !== null) root.append(more)
  const update = () => {
    const errors = model.errors || {}
    const linked = new Set(model.linked || [])
    const files = model.files || {}
    for (const [name, built] of fields) {
      built.update(errors[name], linked.has(name))
      if (built.file) built.file.show(files[name])
    }
    notes.replaceChildren(...(model.notes || []).map((text) => make("div", "", text)))
    notes.hidden = !(model.notes || []).length
  }
  update()
  model.on(["errors", "linked", "notes", "files"], update)
  el.append(root)
}
