/** The object list: one row per object with its colour, name and area; click selects, × removes. */
import { cssColor } from '../labels.js';

export function renderObjects(
  list,
  { objects, active, colors, areas = [], areaUnit = 'px', editable = true, onSelect, onRemove },
) {
  if (!objects.length) {
    const li = document.createElement('li');
    li.className = 'empty';
    li.textContent = 'No object yet: press “Add object”.';
    list.replaceChildren(li);
    return;
  }
  list.replaceChildren(
    ...objects.map((name, i) => {
      const id = i + 1;
      const li = document.createElement('li');
      li.className = id === active ? 'active' : '';
      li.dataset.object = String(id);
      li.title = `Draw ${name} (key ${id})`;
      const swatch = document.createElement('span');
      swatch.className = 'swatch';
      swatch.style.background = cssColor(colors[i], 0.8);
      const label = document.createElement('span');
      label.className = 'name';
      label.textContent = name;
      const area = document.createElement('span');
      area.className = 'area';
      if (areas[i] !== undefined) area.textContent = areas[i] === 0 ? 'empty' : `${areas[i]}${areaUnit}`;
      li.append(swatch, label, area);
      if (editable) {
        const remove = document.createElement('button');
        remove.className = 'remove';
        remove.textContent = '×';
        remove.setAttribute('aria-label', `Remove ${name}`);
        remove.addEventListener('click', (e) => {
          e.stopPropagation();
          onRemove(id);
        });
        li.append(remove);
      }
      li.addEventListener('click', () => onSelect(id));
      return li;
    }),
  );
}
